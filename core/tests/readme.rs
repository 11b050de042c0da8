//! The README's Rust example is the one `examples/session.rs` compiles and runs: the lines
//! between its `README begin`/`README end` markers must be the README block's loop body.

#[test]
fn the_readme_rust_example_is_the_compiled_one() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/session.rs"))
            .unwrap();
    let section = &readme[readme
        .find("## Using Pinhole from Rust")
        .expect("the section")..];
    let block = &section[section.find("```rust\n").unwrap() + 8..];
    let block = &block[..block.find("```").unwrap()];
    let body: Vec<&str> = example
        .lines()
        .skip_while(|l| !l.contains("// README begin"))
        .skip(1)
        .take_while(|l| !l.contains("// README end"))
        .map(str::trim)
        .collect();
    assert!(!body.is_empty());
    let readme_lines: Vec<&str> = block.lines().map(str::trim).collect();
    let joined = readme_lines.join("\n");
    assert!(
        joined.contains(&body.join("\n")),
        "README's Rust block and examples/session.rs differ:\n--- README\n{joined}\n--- example\n{}",
        body.join("\n")
    );
}
