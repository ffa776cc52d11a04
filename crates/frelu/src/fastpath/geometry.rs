//! The shape arithmetic of a 2-D convolution, shared by its kernels.

/// Everything a 2-D convolution kernel needs to know about its operands.
///
/// Input `[n, c_in, h, w]`, weight `[c_out, c_in / groups, kh, kw]`, output
/// `[n, c_out, oh, ow]`; padding is `(begin, end)` per spatial dimension.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvGeometry {
    /// Batch.
    pub n: usize,
    /// Input channels.
    pub c_in: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub c_out: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Stride `[y, x]`.
    pub stride: [usize; 2],
    /// Padding `[(top, bottom), (left, right)]`.
    pub padding: [(usize, usize); 2],
    /// Dilation `[y, x]`.
    pub dilation: [usize; 2],
    /// Groups.
    pub groups: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
}

impl ConvGeometry {
    /// The geometry of `x [n, c_in, h, w] ⊛ weight [c_out, c_in / groups, kh, kw]`, or `None`
    /// when the operands do not fit together (the caller then falls back to Burn's own op,
    /// which reports the error).
    pub fn new(
        x: [usize; 4],
        weight: [usize; 4],
        stride: [usize; 2],
        padding: [(usize, usize); 2],
        dilation: [usize; 2],
        groups: usize,
    ) -> Option<Self> {
        let [n, c_in, h, w] = x;
        let [c_out, c_in_group, kh, kw] = weight;
        if groups == 0
            || c_in % groups != 0
            || c_out % groups != 0
            || c_in / groups != c_in_group
            || stride.contains(&0)
            || dilation.contains(&0)
            || kh == 0
            || kw == 0
        {
            return None;
        }
        let extent = |size: usize, (begin, end): (usize, usize), k: usize, d: usize| {
            (size + begin + end).checked_sub(d * (k - 1) + 1)
        };
        let oh = extent(h, padding[0], kh, dilation[0])? / stride[0] + 1;
        let ow = extent(w, padding[1], kw, dilation[1])? / stride[1] + 1;
        Some(Self {
            n,
            c_in,
            h,
            w,
            c_out,
            kh,
            kw,
            stride,
            padding,
            dilation,
            groups,
            oh,
            ow,
        })
    }

    /// Input channels per group.
    pub fn c_in_group(&self) -> usize {
        self.c_in / self.groups
    }

    /// Output channels per group.
    pub fn c_out_group(&self) -> usize {
        self.c_out / self.groups
    }

    /// Rows of a group's im2col matrix: `c_in_group · kh · kw`.
    pub fn k_group(&self) -> usize {
        self.c_in_group() * self.kh * self.kw
    }

    /// Input pixels per plane.
    pub fn in_plane(&self) -> usize {
        self.h * self.w
    }

    /// Output pixels per plane.
    pub fn out_plane(&self) -> usize {
        self.oh * self.ow
    }

    /// Elements of one input image.
    pub fn in_image(&self) -> usize {
        self.c_in * self.in_plane()
    }

    /// Elements of one output image.
    pub fn out_image(&self) -> usize {
        self.c_out * self.out_plane()
    }

    /// Elements of the weight.
    pub fn weight_len(&self) -> usize {
        self.c_out * self.k_group()
    }

    /// A 1×1 convolution that reads every input pixel once, in order: a plain matrix product.
    pub fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == [1, 1] && self.padding == [(0, 0), (0, 0)]
    }

    /// One input and one output channel per group (depthwise, multiplier 1).
    pub fn is_depthwise(&self) -> bool {
        self.groups > 1 && self.c_in_group() == 1 && self.c_out_group() == 1
    }

    /// For a tap `(i, j)`: the output rows `[ylo, yhi)` and columns `[xlo, xhi)` that read
    /// inside the image, and the plane offset of the input read by output `(ylo, xlo)` (0 when
    /// either range is empty). Output row `oy` then reads from `start + (oy − ylo)·stride·w`,
    /// every `stride[1]`.
    #[inline(always)]
    pub fn tap_window(&self, i: usize, j: usize) -> ((usize, usize), (usize, usize), usize) {
        let ([sy, sx], [dy, dx]) = (self.stride, self.dilation);
        let ((top, _), (left, _)) = (self.padding[0], self.padding[1]);
        let rows = Self::valid_outputs(i, sy, top, dy, self.h, self.oh);
        let cols = Self::valid_outputs(j, sx, left, dx, self.w, self.ow);
        let start = if rows.0 < rows.1 && cols.0 < cols.1 {
            (rows.0 * sy + i * dy - top) * self.w + cols.0 * sx + j * dx - left
        } else {
            0
        };
        (rows, cols, start)
    }

    /// Calls `f(tap, oy, xlo, xhi, start)` for every kernel tap (`i·kw + j`) and output row
    /// `oy` whose input row is inside the image: output columns `[xlo, xhi)` read input
    /// columns inside it, the first of them at plane offset `start`, then every `stride[1]`.
    #[inline(always)]
    pub fn for_each_row(&self, mut f: impl FnMut(usize, usize, usize, usize, usize)) {
        for i in 0..self.kh {
            for j in 0..self.kw {
                let ((ylo, yhi), (xlo, xhi), start) = self.tap_window(i, j);
                if xlo >= xhi {
                    continue;
                }
                for oy in ylo..yhi {
                    f(
                        i * self.kw + j,
                        oy,
                        xlo,
                        xhi,
                        start + (oy - ylo) * self.stride[0] * self.w,
                    );
                }
            }
        }
    }

    #[cfg(test)]
    /// For output index `o` along an axis and kernel tap `t`, the input index, if inside.
    #[inline]
    pub fn input_index(
        o: usize,
        t: usize,
        stride: usize,
        begin: usize,
        d: usize,
        size: usize,
    ) -> Option<usize> {
        (o * stride + t * d)
            .checked_sub(begin)
            .filter(|&i| i < size)
    }

    /// The output range `[lo, hi)` along an axis whose input index for tap `t` lies inside
    /// `[0, size)`.
    #[inline(always)]
    pub fn valid_outputs(
        t: usize,
        stride: usize,
        begin: usize,
        d: usize,
        size: usize,
        out: usize,
    ) -> (usize, usize) {
        // o·stride + t·d − begin ∈ [0, size)
        let offset = t * d;
        let lo = if offset >= begin {
            0
        } else {
            (begin - offset).div_ceil(stride)
        };
        let hi = if size + begin > offset {
            ((size + begin - offset - 1) / stride + 1).min(out)
        } else {
            0
        };
        (lo.min(hi), hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_sizes_follow_the_usual_formula() {
        let g = ConvGeometry::new(
            [2, 3, 7, 8],
            [4, 3, 3, 3],
            [2, 1],
            [(1, 1), (0, 2)],
            [1, 2],
            1,
        )
        .expect("valid");
        assert_eq!((g.oh, g.ow), ((7 + 2 - 3) / 2 + 1, (8 + 2 - 5) + 1));
        assert!(
            ConvGeometry::new([1, 3, 2, 2], [4, 3, 3, 3], [1, 1], [(0, 0); 2], [1, 1], 1).is_none()
        );
        assert!(
            ConvGeometry::new([1, 4, 5, 5], [4, 3, 3, 3], [1, 1], [(1, 1); 2], [1, 1], 2).is_none()
        );
    }

    #[test]
    fn valid_output_ranges_match_a_scan() {
        for stride in 1..4 {
            for begin in 0..3 {
                for d in 1..3 {
                    for t in 0..3 {
                        for size in 1..9 {
                            let out = 12;
                            let scan: Vec<usize> = (0..out)
                                .filter(|&o| {
                                    ConvGeometry::input_index(o, t, stride, begin, d, size)
                                        .is_some()
                                })
                                .collect();
                            let (lo, hi) =
                                ConvGeometry::valid_outputs(t, stride, begin, d, size, out);
                            assert_eq!(
                                scan,
                                (lo..hi).collect::<Vec<_>>(),
                                "s{stride} b{begin} d{d} t{t} n{size}"
                            );
                        }
                    }
                }
            }
        }
    }
}
