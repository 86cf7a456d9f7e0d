//! Video frames in memory: [`Bgra`] as captured from the screen, [`I420`] as the H.264 codec
//! takes and gives it, and the conversions between them (BT.601, limited range, which is what
//! OpenH264 and browsers assume for a stream without colour information).

use crate::MediaError;

/// A captured picture: 4 bytes a pixel in memory order blue, green, red, then alpha (or
/// padding). `stride` is the number of bytes from one row to the next (at least `4 * width`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bgra {
    pub width: usize,
    pub height: usize,
    pub stride: usize,
    pub data: Vec<u8>,
}

impl Bgra {
    /// A picture from its parts, checked: the stride holds a row and the data holds every row.
    pub fn new(
        width: usize,
        height: usize,
        stride: usize,
        data: Vec<u8>,
    ) -> Result<Bgra, MediaError> {
        check_bgra(width, height, stride, data.len())?;
        Ok(Bgra {
            width,
            height,
            stride,
            data,
        })
    }

    /// A picture of one colour (`[b, g, r, a]`), tightly packed.
    pub fn filled(width: usize, height: usize, bgra: [u8; 4]) -> Bgra {
        let data = bgra.repeat(width * height);
        Bgra {
            width,
            height,
            stride: width * 4,
            data,
        }
    }

    /// The bytes of row `y`, `4 * width` of them.
    pub fn row(&self, y: usize) -> &[u8] {
        let start = y * self.stride;
        &self.data[start..start + self.width * 4]
    }

    /// The pixel at (`x`, `y`) as `[b, g, r, a]`.
    pub fn pixel(&self, x: usize, y: usize) -> [u8; 4] {
        let at = y * self.stride + x * 4;
        [
            self.data[at],
            self.data[at + 1],
            self.data[at + 2],
            self.data[at + 3],
        ]
    }
}

/// A picture in planar YUV 4:2:0: a luma plane of `width * height` bytes and two chroma planes
/// of `width/2 * height/2` bytes, each tightly packed. Both dimensions are even.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct I420 {
    pub width: usize,
    pub height: usize,
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
}

impl I420 {
    /// A black picture; odd dimensions are rounded down to even ones.
    pub fn black(width: usize, height: usize) -> I420 {
        let (width, height) = (width & !1, height & !1);
        let chroma = width / 2 * (height / 2);
        I420 {
            width,
            height,
            y: vec![16; width * height],
            u: vec![128; chroma],
            v: vec![128; chroma],
        }
    }

    /// The I420 picture of a whole BGRA picture (an odd last column or row is dropped).
    pub fn from_bgra(src: &Bgra) -> Result<I420, MediaError> {
        let mut out = I420::default();
        out.convert_from(src, 0, 0, src.width, src.height)?;
        Ok(out)
    }

    /// Fill this picture from a region of a BGRA picture, reusing the buffers when the size is
    /// unchanged. The region's width and height are rounded down to even numbers; a region
    /// narrower or lower than two pixels, or outside the source, is refused.
    pub fn convert_from(
        &mut self,
        src: &Bgra,
        x: usize,
        y: usize,
        width: usize,
        height: usize,
    ) -> Result<(), MediaError> {
        check_bgra(src.width, src.height, src.stride, src.data.len())?;
        let (w, h) = (width & !1, height & !1);
        if w < 2 || h < 2 || x + width > src.width || y + height > src.height {
            return Err(MediaError::Invalid(format!(
                "region {width}x{height} at ({x}, {y}) does not fit a {}x{} picture with at least 2x2 pixels",
                src.width, src.height
            )));
        }
        self.resize(w, h);
        let cw = w / 2;
        for pair in 0..h / 2 {
            let top_start = (y + 2 * pair) * src.stride + x * 4;
            let bottom_start = top_start + src.stride;
            let top = &src.data[top_start..top_start + w * 4];
            let bottom = &src.data[bottom_start..bottom_start + w * 4];
            let (y_top, y_bottom) = self.y[2 * pair * w..(2 * pair + 2) * w].split_at_mut(w);
            let u_row = &mut self.u[pair * cw..(pair + 1) * cw];
            let v_row = &mut self.v[pair * cw..(pair + 1) * cw];
            convert_row_pair(top, bottom, y_top, y_bottom, u_row, v_row);
        }
        Ok(())
    }

    /// Packed RGB, 3 bytes a pixel, `width * height` pixels.
    pub fn to_rgb(&self) -> Vec<u8> {
        let mut out = vec![0; self.width * self.height * 3];
        self.write_packed::<3>(&mut out);
        out
    }

    /// Packed RGBA (alpha 255), 4 bytes a pixel, `width * height` pixels.
    pub fn to_rgba(&self) -> Vec<u8> {
        let mut out = vec![255; self.width * self.height * 4];
        self.write_packed::<4>(&mut out);
        out
    }

    /// The mean RGB colour of a rectangle (clipped to the picture), for checks and tests.
    pub fn mean_rgb(&self, x: usize, y: usize, width: usize, height: usize) -> [f64; 3] {
        let x_end = (x + width).min(self.width);
        let y_end = (y + height).min(self.height);
        let mut sum = [0u64; 3];
        let mut count = 0u64;
        for row in y..y_end {
            for col in x..x_end {
                let rgb = self.rgb_at(col, row);
                for (s, c) in sum.iter_mut().zip(rgb) {
                    *s += u64::from(c);
                }
                count += 1;
            }
        }
        let count = count.max(1) as f64;
        sum.map(|s| s as f64 / count)
    }

    /// The RGB colour of one pixel.
    pub fn rgb_at(&self, x: usize, y: usize) -> [u8; 3] {
        let c = (y / 2) * (self.width / 2) + x / 2;
        yuv_to_rgb(self.y[y * self.width + x], self.u[c], self.v[c])
    }

    fn resize(&mut self, width: usize, height: usize) {
        if self.width != width || self.height != height {
            *self = I420::black(width, height);
        }
    }

    fn write_packed<const N: usize>(&self, out: &mut [u8]) {
        let (w, cw) = (self.width, self.width / 2);
        for (row, out_row) in out.chunks_exact_mut(w * N).enumerate().take(self.height) {
            let y_row = &self.y[row * w..(row + 1) * w];
            let u_row = &self.u[(row / 2) * cw..(row / 2 + 1) * cw];
            let v_row = &self.v[(row / 2) * cw..(row / 2 + 1) * cw];
            let pixels = out_row.chunks_exact_mut(2 * N).zip(y_row.chunks_exact(2));
            for ((out_pair, ys), (&u, &v)) in pixels.zip(u_row.iter().zip(v_row)) {
                let (d, e) = (i32::from(u) - 128, i32::from(v) - 128);
                let (r_off, g_off, b_off) =
                    (409 * e + 128, -100 * d - 208 * e + 128, 516 * d + 128);
                for (out_px, &luma) in out_pair.chunks_exact_mut(N).zip(ys) {
                    let c = 298 * (i32::from(luma) - 16);
                    out_px[0] = clamp((c + r_off) >> 8);
                    out_px[1] = clamp((c + g_off) >> 8);
                    out_px[2] = clamp((c + b_off) >> 8);
                }
            }
        }
    }
}

/// Convert two rows of BGRA pixels (even length in pixels) to two luma rows and one row each
/// of the chroma planes (averaged over each 2x2 block). Luma and chroma are separate loops,
/// which the compiler vectorizes better than one loop doing both.
fn convert_row_pair(
    top: &[u8],
    bottom: &[u8],
    y_top: &mut [u8],
    y_bottom: &mut [u8],
    u_row: &mut [u8],
    v_row: &mut [u8],
) {
    for (src, dst) in [(top, y_top), (bottom, y_bottom)] {
        for (px, y) in src.chunks_exact(4).zip(dst.iter_mut()) {
            *y = luma(i32::from(px[2]), i32::from(px[1]), i32::from(px[0]));
        }
    }
    let blocks = top
        .chunks_exact(8)
        .zip(bottom.chunks_exact(8))
        .zip(u_row.iter_mut().zip(v_row.iter_mut()));
    for ((t, b), (u, v)) in blocks {
        let bs = i32::from(t[0]) + i32::from(t[4]) + i32::from(b[0]) + i32::from(b[4]);
        let gs = i32::from(t[1]) + i32::from(t[5]) + i32::from(b[1]) + i32::from(b[5]);
        let rs = i32::from(t[2]) + i32::from(t[6]) + i32::from(b[2]) + i32::from(b[6]);
        *u = (((-38 * rs - 74 * gs + 112 * bs + 512) >> 10) + 128) as u8;
        *v = (((112 * rs - 94 * gs - 18 * bs + 512) >> 10) + 128) as u8;
    }
}

#[inline(always)]
fn luma(r: i32, g: i32, b: i32) -> u8 {
    (((66 * r + 129 * g + 25 * b + 128) >> 8) + 16) as u8
}

#[inline(always)]
fn clamp(value: i32) -> u8 {
    value.clamp(0, 255) as u8
}

/// One pixel from BT.601 limited-range YUV to RGB.
pub fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let c = 298 * (i32::from(y) - 16);
    let (d, e) = (i32::from(u) - 128, i32::from(v) - 128);
    [
        clamp((c + 409 * e + 128) >> 8),
        clamp((c - 100 * d - 208 * e + 128) >> 8),
        clamp((c + 516 * d + 128) >> 8),
    ]
}

/// One pixel from RGB to BT.601 limited-range YUV.
pub fn rgb_to_yuv(r: u8, g: u8, b: u8) -> [u8; 3] {
    let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
    [
        luma(r, g, b),
        (((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128) as u8,
        (((112 * r - 94 * g - 18 * b + 128) >> 8) + 128) as u8,
    ]
}

fn check_bgra(width: usize, height: usize, stride: usize, len: usize) -> Result<(), MediaError> {
    let needed = if height == 0 {
        0
    } else {
        (height - 1) * stride + width * 4
    };
    if stride < width * 4 || len < needed {
        return Err(MediaError::Invalid(format!(
            "a {width}x{height} BGRA picture with stride {stride} needs {needed} bytes, has {len}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_survive_a_round_trip() {
        for rgb in [
            [0, 0, 0],
            [255, 255, 255],
            [200, 40, 40],
            [40, 180, 60],
            [50, 70, 210],
            [255, 0, 0],
        ] {
            let src = Bgra::filled(4, 4, [rgb[2], rgb[1], rgb[0], 255]);
            let yuv = I420::from_bgra(&src).expect("convert");
            let back = yuv.to_rgb();
            for (got, want) in back[..3].iter().zip(rgb) {
                assert!(
                    (i32::from(*got) - i32::from(want)).abs() <= 2,
                    "{rgb:?} came back as {:?}",
                    &back[..3]
                );
            }
        }
    }

    #[test]
    fn odd_edges_are_cropped_and_regions_checked() {
        let src = Bgra::filled(5, 3, [0, 0, 255, 255]);
        let yuv = I420::from_bgra(&src).expect("convert");
        assert_eq!((yuv.width, yuv.height, yuv.u.len()), (4, 2, 2));
        let mut out = I420::default();
        assert!(out.convert_from(&src, 4, 0, 2, 2).is_err());
        assert!(Bgra::new(4, 4, 8, vec![0; 64]).is_err());
    }
}
