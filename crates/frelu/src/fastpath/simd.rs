//! Runs a kernel's inner loops compiled for the widest vector instructions the CPU has.
//!
//! The crate is built for the baseline of its target (SSE2 on x86-64), so a plain loop over
//! `f32`s runs four lanes at a time, or one where the compiler keeps a branch. [`vectorized`]
//! calls its closure inside a function compiled with AVX-512 (or AVX2 + FMA) enabled, chosen
//! once at run time, so the same loop is compiled for 16 (or 8) lanes; on other CPUs and
//! architectures it calls the closure as it is. Results do not change: the loops keep their
//! order of operations (no fused multiply-add is introduced where the code has none).

use std::sync::OnceLock;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    /// AVX-512 F/VL/BW/DQ with AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    V4,
    /// AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    V3,
    /// The target's baseline.
    Baseline,
}

fn level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            let v3 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
            let v4 = v3
                && is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512vl")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512dq");
            if v4 {
                return Level::V4;
            }
            if v3 {
                return Level::V3;
            }
        }
        Level::Baseline
    })
}

/// Runs `f` compiled for the best instruction set of this CPU (see the module docs). Call it
/// around a loop, inside any parallel iterator: the closure must be inlined into the
/// specialised function to benefit, which a closure called once always is.
#[inline(always)]
pub fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    match level() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has these features (checked in `level`).
        Level::V4 => unsafe { v4(f) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Level::V3 => unsafe { v3(f) },
        Level::Baseline => f(),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,bmi1,bmi2,lzcnt,popcnt")]
unsafe fn v4<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,bmi1,bmi2,lzcnt,popcnt")]
unsafe fn v3<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gives_the_plain_loop_s_result() {
        let x: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.37).sin()).collect();
        let plain: Vec<f32> = x
            .iter()
            .map(|&v| v * if v > 0.0 { 2.0 } else { 0.5 })
            .collect();
        let fast = vectorized(|| {
            x.iter()
                .map(|&v| v * if v > 0.0 { 2.0 } else { 0.5 })
                .collect::<Vec<f32>>()
        });
        assert_eq!(plain, fast);
    }
}
