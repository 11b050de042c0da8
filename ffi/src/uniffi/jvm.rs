//! JVM hosts (Android, desktop JVMs): keep the `JavaVM` from `JNI_OnLoad` and attach
//! Pinhole's runtime threads to it once, permanently. Without this, JNA attaches a thread
//! to the VM before every callback into Kotlin and detaches it afterwards (a few
//! microseconds each time, and a new `java.lang.Thread` object per callback).
//!
//! `JNI_OnLoad` runs when the library is loaded with `System.loadLibrary` or `System.load`
//! (JNA's own loading does not call it): the Kotlin layer does that first
//! (`dev.pinhole.Pinhole.attachThreadsPermanently()`; on Android, the glue's
//! `PinholeAndroid.init`). Compiled on every target but Apple's mobile ones; elsewhere the
//! exported switch reports `Unsupported`.

use super::error::PinholeError;

#[cfg(not(any(
    target_os = "ios",
    target_os = "tvos",
    target_os = "watchos",
    target_os = "visionos"
)))]
mod imp {
    use std::cell::Cell;
    use std::ffi::c_void;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::OnceLock;

    use jni::sys::{jint, JNI_VERSION_1_6};
    use jni::JavaVM;

    static VM: OnceLock<JavaVM> = OnceLock::new();
    static ENABLED: AtomicBool = AtomicBool::new(false);

    thread_local! {
        static ATTACHED: Cell<bool> = const { Cell::new(false) };
    }

    /// Called by the JVM when `System.load`/`System.loadLibrary` loads this library.
    ///
    /// # Safety
    /// Called by the JVM with its own `JavaVM` pointer.
    #[no_mangle]
    pub unsafe extern "system" fn JNI_OnLoad(vm: *mut jni::sys::JavaVM, _: *mut c_void) -> jint {
        // SAFETY: the JVM passes a valid JavaVM that outlives the library.
        if let Ok(vm) = unsafe { JavaVM::from_raw(vm) } {
            if VM.set(vm).is_ok() {
                ENABLED.store(true, Ordering::Release);
            }
        }
        JNI_VERSION_1_6
    }

    pub(super) fn available() -> bool {
        VM.get().is_some()
    }

    pub(super) fn set_enabled(on: bool) {
        ENABLED.store(on, Ordering::Release);
    }

    pub(super) fn enabled() -> bool {
        ENABLED.load(Ordering::Acquire) && available()
    }

    /// Attaches this thread for good if it is one of Pinhole's runtime threads and the
    /// JVM is known (a thread-local check once attached).
    pub(crate) fn attach_current_thread() {
        if !ENABLED.load(Ordering::Relaxed) {
            return;
        }
        ATTACHED.with(|a| {
            if a.get() {
                return;
            }
            let pinhole_thread = std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with("pinhole"));
            if !pinhole_thread {
                return;
            }
            if let Some(vm) = VM.get() {
                // Detached by jni's thread-local guard when the thread exits.
                match vm.attach_current_thread_permanently() {
                    Ok(_) => a.set(true),
                    Err(e) => {
                        log::debug!("pinhole: cannot attach a runtime thread to the JVM: {e}")
                    }
                }
            }
        });
    }

    /// Whether this thread is attached by Pinhole (for tests and the benchmark).
    pub(super) fn attached_here() -> bool {
        ATTACHED.with(|a| a.get())
    }
}

#[cfg(any(
    target_os = "ios",
    target_os = "tvos",
    target_os = "watchos",
    target_os = "visionos"
))]
mod imp {
    pub(super) fn available() -> bool {
        false
    }
    pub(super) fn set_enabled(_: bool) {}
    pub(super) fn enabled() -> bool {
        false
    }
    pub(crate) fn attach_current_thread() {}
    pub(super) fn attached_here() -> bool {
        false
    }
}

pub(crate) use imp::attach_current_thread;

/// Whether the current thread was attached to the JVM by Pinhole.
pub(crate) fn attached_here() -> bool {
    imp::attached_here()
}

/// Turns the permanent attachment of Pinhole's threads to the JVM on or off (on by
/// default once `JNI_OnLoad` ran). Threads already attached stay attached. `Unsupported`
/// if the library was not loaded through `System.load`/`System.loadLibrary` (JNA alone
/// does not run `JNI_OnLoad`), or on a platform without a JVM.
#[uniffi::export]
pub fn set_jvm_thread_attachment(permanent: bool) -> Result<(), PinholeError> {
    if !imp::available() {
        return Err(PinholeError::Unsupported(
            "no JavaVM is known: load the library with System.load or System.loadLibrary first (dev.pinhole.Pinhole.attachThreadsPermanently() does), so that JNI_OnLoad runs".into(),
        ));
    }
    imp::set_enabled(permanent);
    Ok(())
}

/// Whether Pinhole attaches its threads to the JVM permanently (`JNI_OnLoad` ran and the
/// attachment is on).
#[uniffi::export]
pub fn jvm_thread_attachment() -> bool {
    imp::enabled()
}
