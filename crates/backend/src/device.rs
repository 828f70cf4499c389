//! Is there a CUDA device the GPU prover can use? Asked of the NVIDIA driver itself (`libcuda.so.1`, opened
//! with `dlopen`), so the CPU binary can answer without linking CUDA and without a CUDA toolkit: no driver,
//! a driver too old for CUDA 13, or no device each give a [`NoGpu`] that says so.
//!
//! This is the only `unsafe` code of dzk outside the CUDA crates: calls through function pointers looked up by
//! name in the driver, each with the C signature `cuda.h` declares for it.

use serde::Serialize;

/// The oldest driver the GPU prover runs on, as `cuDriverGetVersion` reports it (1000 × major + 10 × minor):
/// CUDA 13.0, the R580 driver branch. halo2-axiom-gpu is compiled with CUDA 13 (the toolkit on PyPI).
pub const MIN_DRIVER_CUDA: i32 = 13000;

/// One CUDA device, as the driver describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Device {
    /// The driver's ordinal (after `CUDA_VISIBLE_DEVICES`).
    pub ordinal: i32,
    /// The product name (`NVIDIA H100 80GB HBM3`).
    pub name: String,
    /// Device memory, bytes.
    pub memory_bytes: u64,
    /// Compute capability, major and minor (9.0 for H100 and H200).
    pub compute_capability: (i32, i32),
}

/// What the driver reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Driver {
    /// The CUDA version the driver supports (`13.0`).
    pub cuda_version: String,
    /// Its devices; never empty in a [`probe`] result.
    pub devices: Vec<Device>,
}

/// Why no GPU can be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoGpu {
    /// `libcuda.so.1` cannot be loaded: no NVIDIA driver on this machine.
    #[error("no NVIDIA driver ({0})")]
    NoDriver(String),
    /// The driver library loaded but lacks an entry point dzk calls.
    #[error("the NVIDIA driver library has no {0}")]
    Symbol(&'static str),
    /// A driver call failed.
    #[error("the NVIDIA driver's {call} failed: {}", error_name(*.code))]
    Call {
        /// The driver function.
        call: &'static str,
        /// Its `CUresult`.
        code: i32,
    },
    /// The driver is older than CUDA 13 needs.
    #[error("the NVIDIA driver supports CUDA {have}; the GPU prover needs CUDA 13.0 or newer (driver 580 or newer)")]
    OldDriver {
        /// The CUDA version it supports.
        have: String,
    },
    /// The driver works but sees no device.
    #[error("the NVIDIA driver sees no CUDA device")]
    NoDevice,
    /// dzk cannot ask for devices on this operating system.
    #[error("GPU proving is supported on Linux only")]
    Unsupported,
}

/// The name of a `CUresult` dzk may meet when probing.
fn error_name(code: i32) -> String {
    let name = match code {
        1 => "CUDA_ERROR_INVALID_VALUE",
        2 => "CUDA_ERROR_OUT_OF_MEMORY",
        3 => "CUDA_ERROR_NOT_INITIALIZED",
        34 => "CUDA_ERROR_STUB_LIBRARY",
        35 => "CUDA_ERROR_INSUFFICIENT_DRIVER",
        46 => "CUDA_ERROR_DEVICES_UNAVAILABLE",
        100 => "CUDA_ERROR_NO_DEVICE",
        101 => "CUDA_ERROR_INVALID_DEVICE",
        304 => "CUDA_ERROR_OPERATING_SYSTEM",
        999 => "CUDA_ERROR_UNKNOWN",
        _ => return format!("CUresult {code}"),
    };
    format!("{name} ({code})")
}

/// `1000 × major + 10 × minor` as `major.minor`.
fn cuda_version(v: i32) -> String {
    format!("{}.{}", v / 1000, (v % 1000) / 10)
}

/// Asks the NVIDIA driver for its version and devices. `Ok` only when the driver supports CUDA 13 and sees at
/// least one device; whether the GPU prover then starts is a separate question (`dzk devices` asks it).
pub fn probe() -> Result<Driver, NoGpu> {
    imp::probe()
}

#[cfg(not(unix))]
mod imp {
    use super::{Driver, NoGpu};

    pub fn probe() -> Result<Driver, NoGpu> {
        Err(NoGpu::Unsupported)
    }
}

#[cfg(unix)]
#[allow(unsafe_code)]
mod imp {
    use std::ffi::{c_char, c_int, c_uint, c_void, CStr};

    use super::{cuda_version, Device, Driver, NoGpu, MIN_DRIVER_CUDA};

    /// `CUDA_ERROR_NO_DEVICE`.
    const NO_DEVICE: c_int = 100;
    /// `CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR` and `_MINOR`.
    const CC_MAJOR: c_int = 75;
    const CC_MINOR: c_int = 76;

    /// The driver library, opened once and never closed (the CUDA runtime keeps it open too).
    struct Lib(*mut c_void);

    impl Lib {
        fn open() -> Result<Self, NoGpu> {
            // SAFETY: dlopen with a NUL-terminated name; the library's initialisers are the driver's own.
            let h = unsafe {
                libc::dlopen(c"libcuda.so.1".as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL)
            };
            if h.is_null() {
                // SAFETY: dlerror returns a NUL-terminated message owned by libc, or null.
                let why = unsafe { libc::dlerror() };
                let why = if why.is_null() {
                    "libcuda.so.1 cannot be loaded".to_string()
                } else {
                    // SAFETY: non-null, NUL-terminated (above).
                    unsafe { CStr::from_ptr(why) }
                        .to_string_lossy()
                        .into_owned()
                };
                return Err(NoGpu::NoDriver(why));
            }
            Ok(Self(h))
        }

        /// The address of `name`, to be cast to the function type `cuda.h` declares for it.
        fn symbol(&self, name: &'static CStr) -> Result<*mut c_void, NoGpu> {
            // SAFETY: a live handle from dlopen and a NUL-terminated name.
            let p = unsafe { libc::dlsym(self.0, name.as_ptr()) };
            if p.is_null() {
                return Err(NoGpu::Symbol(name_of(name)));
            }
            Ok(p)
        }
    }

    fn name_of(name: &'static CStr) -> &'static str {
        name.to_str().unwrap_or("a driver entry point")
    }

    /// Calls a driver function returning `CUresult`, mapping failure to [`NoGpu::Call`].
    fn check(call: &'static str, code: c_int) -> Result<(), NoGpu> {
        if code == 0 {
            Ok(())
        } else {
            Err(NoGpu::Call { call, code })
        }
    }

    type Init = unsafe extern "C" fn(c_uint) -> c_int;
    type IntOut = unsafe extern "C" fn(*mut c_int) -> c_int;
    type DeviceGet = unsafe extern "C" fn(*mut c_int, c_int) -> c_int;
    type GetName = unsafe extern "C" fn(*mut c_char, c_int, c_int) -> c_int;
    type TotalMem = unsafe extern "C" fn(*mut usize, c_int) -> c_int;
    type Attribute = unsafe extern "C" fn(*mut c_int, c_int, c_int) -> c_int;

    pub fn probe() -> Result<Driver, NoGpu> {
        let lib = Lib::open()?;
        // SAFETY (every transmute below): each symbol is the driver function of that name, whose C signature
        // in cuda.h is the function type it is cast to (CUdevice is an int, CUresult an enum of int size).
        let init: Init = unsafe { std::mem::transmute(lib.symbol(c"cuInit")?) };
        let version: IntOut = unsafe { std::mem::transmute(lib.symbol(c"cuDriverGetVersion")?) };
        let count: IntOut = unsafe { std::mem::transmute(lib.symbol(c"cuDeviceGetCount")?) };
        let get: DeviceGet = unsafe { std::mem::transmute(lib.symbol(c"cuDeviceGet")?) };
        let name: GetName = unsafe { std::mem::transmute(lib.symbol(c"cuDeviceGetName")?) };
        let mem: TotalMem = unsafe { std::mem::transmute(lib.symbol(c"cuDeviceTotalMem_v2")?) };
        let attr: Attribute = unsafe { std::mem::transmute(lib.symbol(c"cuDeviceGetAttribute")?) };

        // SAFETY: plain driver calls with valid out-pointers to locals.
        let code = unsafe { init(0) };
        if code == NO_DEVICE {
            return Err(NoGpu::NoDevice);
        }
        check("cuInit", code)?;
        let mut v: c_int = 0;
        check("cuDriverGetVersion", unsafe { version(&mut v) })?;
        if v < MIN_DRIVER_CUDA {
            return Err(NoGpu::OldDriver {
                have: cuda_version(v),
            });
        }
        let mut n: c_int = 0;
        check("cuDeviceGetCount", unsafe { count(&mut n) })?;
        let mut devices = Vec::new();
        for ordinal in 0..n {
            let mut dev: c_int = 0;
            check("cuDeviceGet", unsafe { get(&mut dev, ordinal) })?;
            let mut buf = [0 as c_char; 256];
            check("cuDeviceGetName", unsafe {
                name(buf.as_mut_ptr(), buf.len() as c_int - 1, dev)
            })?;
            // SAFETY: the buffer is zeroed and one longer than the length the driver may write.
            let product = unsafe { CStr::from_ptr(buf.as_ptr()) }
                .to_string_lossy()
                .into_owned();
            let mut bytes: usize = 0;
            check("cuDeviceTotalMem", unsafe { mem(&mut bytes, dev) })?;
            let (mut major, mut minor): (c_int, c_int) = (0, 0);
            check("cuDeviceGetAttribute", unsafe {
                attr(&mut major, CC_MAJOR, dev)
            })?;
            check("cuDeviceGetAttribute", unsafe {
                attr(&mut minor, CC_MINOR, dev)
            })?;
            devices.push(Device {
                ordinal,
                name: product,
                memory_bytes: bytes as u64,
                compute_capability: (major, minor),
            });
        }
        if devices.is_empty() {
            return Err(NoGpu::NoDevice);
        }
        Ok(Driver {
            cuda_version: cuda_version(v),
            devices,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_error_names_read_as_the_driver_documents_them() {
        assert_eq!(cuda_version(13000), "13.0");
        assert_eq!(cuda_version(12040), "12.4");
        assert_eq!(error_name(100), "CUDA_ERROR_NO_DEVICE (100)");
        assert_eq!(error_name(7), "CUresult 7");
        let e = NoGpu::OldDriver {
            have: cuda_version(12080),
        };
        assert!(e.to_string().contains("supports CUDA 12.8"), "{e}");
    }
}
