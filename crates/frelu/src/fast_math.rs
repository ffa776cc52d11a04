//! `exp` and `ln_1p` for f32 from basic operations alone, so that a kernel's loop that calls them
//! vectorises (the C library's `expf` and `log1pf` are calls the compiler cannot widen: in
//! PReNU's training step `log1pf` took 40 % of the time). Cephes' single-precision algorithms
//! (range reduction, then a minimax polynomial); the tests hold them within 2 units in the last
//! place of the exactly rounded value over the ranges the activations use. Being plain
//! arithmetic, they give the same bits on every CPU and at every vector width.

/// ln 2 split in two, the first (0.693359375) with few enough bits that its product with a
/// small integer is exact.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;

/// `e^x`: `0` below −87.34 (where the exact value is under f32's smallest normal number, an
/// error under 1.2e-38), `∞` above 88.72, NaN for NaN.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    const MAX: f32 = 88.722_83;
    const MIN: f32 = -87.336_55;
    let clamped = x.clamp(MIN, MAX);
    // n = x·log₂e rounded to the nearest integer (adding and removing 1.5·2²³ rounds, in any
    // vector width and without a call to `floor`).
    const ROUND: f32 = 12_582_912.0;
    let n = (clamped * LOG2_E + ROUND) - ROUND;
    let r = clamped - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let e_r = p * r * r + r + 1.0;
    // 2^n in two factors, so that n = 128 (x near MAX) stays finite until the product.
    let n = n as i32;
    let scale = |k: i32| f32::from_bits(((k + 127) as u32) << 23);
    let y = e_r * scale(n >> 1) * scale(n - (n >> 1));
    if x > MAX {
        f32::INFINITY
    } else if x < MIN {
        0.0
    } else if x.is_nan() {
        x
    } else {
        y
    }
}

/// `ln(1 + x)` for `x ≥ 0` (PReNU's domain). Below `√2 − 1` the logarithm's polynomial takes `x`
/// itself (exact, where `1 + x` would round); above, `ln(u)` of `u = 1 + x` plus `c/u`, where
/// `c = x − (u − 1)` is the (exact) rounding error of `u`. `∞` for `∞`, NaN for NaN.
#[inline(always)]
pub(crate) fn ln_1p(x: f32) -> f32 {
    const SQRT_2_MINUS_1: f32 = std::f32::consts::SQRT_2 - 1.0;
    let u = 1.0 + x;
    let small = ln_reduced(x, 0.0);
    let large = ln_from_one(u) + (x - (u - 1.0)) / u;
    if x < SQRT_2_MINUS_1 {
        small
    } else if u == f32::INFINITY || x.is_nan() {
        u
    } else {
        large
    }
}

/// `ln(u)` for finite `u ≥ 1`.
#[inline(always)]
fn ln_from_one(u: f32) -> f32 {
    const SQRT_HALF: f32 = std::f32::consts::FRAC_1_SQRT_2;
    let bits = u.to_bits();
    // u = m·2^e with m in [0.5, 1), then m moved into [√½, √2) − 1.
    let mut e = ((bits >> 23) & 0xFF) as i32 - 126;
    let mut m = f32::from_bits((bits & 0x007F_FFFF) | 0x3F00_0000);
    if m < SQRT_HALF {
        e -= 1;
        m = m + m - 1.0;
    } else {
        m -= 1.0;
    }
    ln_reduced(m, e as f32)
}

/// `ln((1 + m)·2^e)` for `m` in `[√½ − 1, √2 − 1)`: Cephes' `logf` after its range reduction.
#[inline(always)]
fn ln_reduced(m: f32, e: f32) -> f32 {
    let z = m * m;
    let mut p = 7.037_683_6e-2_f32;
    p = p * m - 1.151_461e-1;
    p = p * m + 1.167_699_9e-1;
    p = p * m - 1.242_014_1e-1;
    p = p * m + 1.424_932_3e-1;
    p = p * m - 1.666_805_8e-1;
    p = p * m + 2.000_071_4e-1;
    p = p * m - 2.499_999_4e-1;
    p = p * m + 3.333_333e-1;
    let mut y = p * m * z;
    y += LN2_LO * e;
    y += -0.5 * z;
    (m + y) + LN2_HI * e
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Units in the last place between `got` and the exactly rounded `exact`.
    fn ulps(got: f32, exact: f64) -> f64 {
        let rounded = exact as f32;
        let ulp = f64::from(f32::from_bits(rounded.abs().to_bits() + 1) - rounded.abs());
        (f64::from(got) - exact).abs() / ulp
    }

    /// Every `step`-th f32 bit pattern between `lo` and `hi` (both positive or both negative).
    fn sweep(lo: f32, hi: f32, step: u32) -> impl Iterator<Item = f32> {
        let (a, b) = (
            lo.to_bits().min(hi.to_bits()),
            lo.to_bits().max(hi.to_bits()),
        );
        (a..=b).step_by(step as usize).map(f32::from_bits)
    }

    #[test]
    fn exp_is_within_two_ulps_where_its_value_is_normal() {
        let mut worst = (0.0, 0.0f32);
        for x in sweep(-87.0, -1e-30, 997)
            .chain(sweep(1e-30, 88.0, 997))
            .chain([0.0, -0.0, 1.0, -1.0])
        {
            let e = ulps(exp(x), f64::from(x).exp());
            if e > worst.0 {
                worst = (e, x);
            }
        }
        assert!(worst.0 <= 2.0, "{} ulps at x = {}", worst.0, worst.1);
    }

    #[test]
    fn exp_saturates_and_keeps_nan() {
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(89.0), f32::INFINITY);
        assert_eq!(exp(f32::INFINITY), f32::INFINITY);
        assert!(exp(f32::NAN).is_nan());
        assert_eq!(exp(0.0), 1.0);
        // The largest finite case: 2^n with n = 128 split in two factors.
        assert!(exp(88.7).is_finite() && exp(88.7) > 3.0e38);
    }

    #[test]
    fn ln_1p_is_within_two_ulps_on_its_domain() {
        let mut worst = (0.0, 0.0f32);
        for x in sweep(1e-30, 3.0e38, 499).chain([0.0, 1.0, 1e-8, 1e-4, 0.5, 2.0]) {
            let e = ulps(ln_1p(x), f64::from(x).ln_1p());
            if e > worst.0 {
                worst = (e, x);
            }
        }
        assert!(worst.0 <= 2.0, "{} ulps at x = {}", worst.0, worst.1);
        assert_eq!(ln_1p(f32::INFINITY), f32::INFINITY);
        assert!(ln_1p(f32::NAN).is_nan());
        assert_eq!(ln_1p(0.0), 0.0);
    }
}
