//! Runs a kernel's inner loops compiled for the widest vector instructions the CPU has.
//!
//! The crate is built for the baseline of its target (SSE2 on x86-64), so a plain loop over
//! `f32`s runs four lanes at a time, or one where the compiler keeps a branch. A kernel written
//! inside [`multiversion!`] is compiled also with AVX-512 and with AVX2 + FMA enabled, and the
//! version the CPU can run is chosen once, at run time, so the same loop runs 16 (or 8) lanes
//! wide; on other CPUs and architectures the baseline runs. Results do not change: the loops
//! keep their order of operations (Rust never fuses a multiply and an add on its own).

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

/// Defines a function whose body is compiled three times — for AVX-512, for AVX2 + FMA and for
/// the baseline — and that runs the best version this CPU has. The body is an always-inlined
/// function, so it is compiled inside each specialised one however long it is (a closure
/// passed to such a function is inlined only when the compiler finds it small enough).
///
/// ```text
/// multiversion! {
///     /// Docs.
///     pub(super) fn scale(values: &mut [f32], by: f32) {
///         for v in values { *v *= by; }
///     }
/// }
/// ```
///
/// A generic function names its type parameters and puts its bounds in brackets; the closures
/// it takes are compiled inside each version where the compiler inlines them (small ones are):
///
/// ```text
/// multiversion! {
///     fn apply<F>(values: &mut [f32], f: &F) where [F: Fn(f32) -> f32] {
///         for v in values { *v = f(*v); }
///     }
/// }
/// ```
macro_rules! multiversion {
    (
        $(#[$meta:meta])* $vis:vis fn $name:ident $(<$($g:ident),*>)?
        ($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $(where [$($w:tt)*])? $body:block
    ) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name $(<$($g),*>)? ($($arg: $ty),*) $(-> $ret)? $(where $($w)*)? {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn body $(<$($g),*>)? ($($arg: $ty),*) $(-> $ret)? $(where $($w)*)? $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,bmi1,bmi2,lzcnt,popcnt")]
            #[allow(clippy::too_many_arguments)]
            unsafe fn v4 $(<$($g),*>)? ($($arg: $ty),*) $(-> $ret)? $(where $($w)*)? {
                body($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma,bmi1,bmi2,lzcnt,popcnt")]
            #[allow(clippy::too_many_arguments)]
            unsafe fn v3 $(<$($g),*>)? ($($arg: $ty),*) $(-> $ret)? $(where $($w)*)? {
                body($($arg),*)
            }
            match $crate::simd::level_index() {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: the CPU has these features (checked once, at the first call).
                2 => unsafe { v4($($arg),*) },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: as above.
                1 => unsafe { v3($($arg),*) },
                _ => body($($arg),*),
            }
        }
    };
}
pub(crate) use multiversion;

/// 2 with AVX-512, 1 with AVX2 + FMA, 0 otherwise (for [`multiversion!`]).
#[inline(always)]
pub(crate) fn level_index() -> u8 {
    match level() {
        #[cfg(target_arch = "x86_64")]
        Level::V4 => 2,
        #[cfg(target_arch = "x86_64")]
        Level::V3 => 1,
        Level::Baseline => 0,
    }
}

#[cfg(test)]
mod tests {
    multiversion! {
        fn halve_negatives(values: &mut [f32]) {
            for v in values {
                *v *= if *v > 0.0 { 1.0 } else { 0.5 };
            }
        }
    }

    multiversion! {
        fn apply<F>(values: &mut [f32], f: &F) where [F: Fn(f32) -> f32] {
            for v in values {
                *v = f(*v);
            }
        }
    }

    #[test]
    fn a_generic_multiversioned_function_runs_its_closure() {
        let mut a: Vec<f32> = (0..999).map(|i| i as f32 - 500.0).collect();
        apply(&mut a, &|v: f32| v.floor().max(-3.0) * 0.5);
        let expected: Vec<f32> = (0..999)
            .map(|i| (i as f32 - 500.0).max(-3.0) * 0.5)
            .collect();
        assert_eq!(a, expected);
    }

    #[test]
    fn a_multiversioned_function_gives_the_plain_loop_s_result() {
        let mut a: Vec<f32> = (0..999).map(|i| (i as f32 * 0.37).sin()).collect();
        let expected: Vec<f32> = a
            .iter()
            .map(|&v| v * if v > 0.0 { 1.0 } else { 0.5 })
            .collect();
        halve_negatives(&mut a);
        assert_eq!(a, expected);
    }
}
