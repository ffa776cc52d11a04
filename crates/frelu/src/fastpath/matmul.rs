//! Row-major matrix products on the `gemm` crate, and the per-thread scratch buffers the
//! convolution kernels reuse from step to step.

use std::cell::RefCell;

/// A strided view of a matrix: element `(r, c)` at `ptr + r·row + c·col`.
#[derive(Clone, Copy, Debug)]
pub struct View {
    /// Row stride.
    pub row: isize,
    /// Column stride.
    pub col: isize,
}

impl View {
    /// A row-major matrix with `cols` columns.
    pub fn rows(cols: usize) -> Self {
        Self {
            row: cols as isize,
            col: 1,
        }
    }

    /// The transpose of a row-major matrix with `cols` columns.
    pub fn transposed(cols: usize) -> Self {
        Self {
            row: 1,
            col: cols as isize,
        }
    }
}

/// `dst[m, n] = (accumulate ? dst : 0) + lhs[m, k] · rhs[k, n]`, `dst` row-major with row
/// stride `n`.
///
/// `threads`: 1 runs on the calling thread (the caller parallelises over images); more lets
/// `gemm` split the product over rayon's pool.
///
/// # Safety
/// `dst` must hold `m·n` elements (readable when `accumulate`), `lhs` and `rhs` every element
/// their views address.
#[allow(clippy::too_many_arguments)]
pub unsafe fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    accumulate: bool,
    lhs: *const f32,
    lhs_view: View,
    rhs: *const f32,
    rhs_view: View,
    threads: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            // SAFETY: the caller guarantees m·n elements at dst.
            unsafe { std::ptr::write_bytes(dst, 0, m * n) };
        }
        return;
    }
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: forwarded from the caller.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            n as isize,
            accumulate,
            lhs,
            lhs_view.col,
            lhs_view.row,
            rhs,
            rhs_view.col,
            rhs_view.row,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        )
    }
}

thread_local! {
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's scratch buffer of at least `len` elements (contents
/// unspecified). The buffer is kept for the thread's next call, so a training step allocates
/// none after the first.
pub fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buffer) => {
            if buffer.len() < len {
                buffer.resize(len, 0.0);
            }
            f(&mut buffer[..len])
        }
        // Re-entered on this thread (a nested parallel call ran a task here): a fresh buffer.
        Err(_) => f(&mut vec![0.0; len]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(
        m: usize,
        n: usize,
        k: usize,
        a: impl Fn(usize, usize) -> f32,
        b: impl Fn(usize, usize) -> f32,
    ) -> Vec<f32> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|l| a(i, l) * b(l, j)).sum();
            }
        }
        out
    }

    #[test]
    fn views_multiply_as_their_strides_say() {
        let (m, n, k) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|v| v as f32 * 0.5 - 3.0).collect();
        let b: Vec<f32> = (0..k * n).map(|v| (v % 5) as f32 - 2.0).collect();
        for threads in [1, 2] {
            let mut out = vec![1.0; m * n];
            unsafe {
                matmul(
                    m,
                    n,
                    k,
                    out.as_mut_ptr(),
                    false,
                    a.as_ptr(),
                    View::rows(k),
                    b.as_ptr(),
                    View::rows(n),
                    threads,
                )
            };
            assert_eq!(
                out,
                naive(m, n, k, |i, l| a[i * k + l], |l, j| b[l * n + j])
            );
            // lhs read as the transpose of a [k, m] matrix, accumulated onto ones.
            let mut acc = vec![1.0; m * n];
            unsafe {
                matmul(
                    m,
                    n,
                    k,
                    acc.as_mut_ptr(),
                    true,
                    a.as_ptr(),
                    View::transposed(m),
                    b.as_ptr(),
                    View::rows(n),
                    threads,
                )
            };
            let expected = naive(m, n, k, |i, l| a[l * m + i], |l, j| b[l * n + j]);
            assert_eq!(acc, expected.iter().map(|v| v + 1.0).collect::<Vec<_>>());
        }
    }
}
