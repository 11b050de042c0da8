// swift-tools-version:5.9
// Pinhole for Swift: the generated bindings and the idiomatic layer (target `Pinhole`) over
// the native library (`PinholeFFI`, an XCFramework built by scripts/build-xcframework.sh).
//
// In this repository the binary target is the locally built PinholeFFI.xcframework. A
// release manifest points at the zipped XCFramework instead: build-xcframework.sh prints
// the line, `.binaryTarget(name: "PinholeFFI", url: "…/PinholeFFI.xcframework.zip",
// checksum: "…")`.
import PackageDescription

let package = Package(
    name: "Pinhole",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "Pinhole", targets: ["Pinhole"]),
    ],
    targets: [
        .binaryTarget(name: "PinholeFFI", path: "PinholeFFI.xcframework"),
        .target(
            name: "Pinhole",
            dependencies: ["PinholeFFI"],
            path: "Sources/Pinhole"
        ),
        .testTarget(
            name: "PinholeTests",
            dependencies: ["Pinhole"],
            path: "Tests/PinholeTests"
        ),
    ]
)
