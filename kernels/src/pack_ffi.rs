//! Run-time weight packing, for convolutions whose weights are graph inputs rather than
//! constants (the compiler packs constant weights once, at compile time).

use crate::pack::{pack_conv, ConvShape, NR};
use crate::params::kernel_params;

kernel_params! {
/// Parameters of [`bqml_pack_conv`]; the packed sizes come from packing a same-shaped
/// placeholder at compile time.
#[derive(Clone, Copy, Debug)]
pub struct PackConvParams {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel_h: usize,
    pub kernel_w: usize,
    pub groups: usize,
    /// ONNX OIHW weights, `out_channels * in_channels / groups * kernel_h * kernel_w` floats.
    pub weights: *const f32,
    /// `out_channels` floats, or null.
    pub bias: *const f32,
    /// Receives the packed weights.
    pub out_weights: *mut f32,
    pub out_weights_len: usize,
    /// Receives the packed bias.
    pub out_bias: *mut f32,
    pub out_bias_len: usize,
}
}

/// Packs conv weights into caller buffers.
///
/// # Safety
/// `p` is valid; every pointer covers the element count its field documents. A shape
/// that packs to other lengths than the given ones aborts (a compiler bug, never data).
#[no_mangle]
pub unsafe extern "C" fn bqml_pack_conv(p: *const PackConvParams) {
    // SAFETY: the caller guarantees `p` points to a valid PackConvParams.
    let p = unsafe { &*p };
    let shape = ConvShape {
        in_channels: p.in_channels,
        out_channels: p.out_channels,
        kernel_h: p.kernel_h,
        kernel_w: p.kernel_w,
        groups: p.groups,
    };
    let n = p.out_channels * (p.in_channels / p.groups.max(1)) * p.kernel_h * p.kernel_w;
    // SAFETY: the caller guarantees `weights` covers `n` floats and `bias` (if not null)
    // covers `out_channels` floats.
    let (w, b) = unsafe {
        (
            std::slice::from_raw_parts(p.weights, n),
            (!p.bias.is_null()).then(|| std::slice::from_raw_parts(p.bias, p.out_channels)),
        )
    };
    let packed = match pack_conv(shape, w, b) {
        Ok(pk) if pk.weights.len() == p.out_weights_len && pk.bias.len() == p.out_bias_len => pk,
        _ => {
            eprintln!("bqml kernels: run-time conv packing does not match its compile-time plan");
            std::process::abort()
        }
    };
    // SAFETY: the caller guarantees the output buffers hold the given lengths.
    unsafe {
        std::ptr::copy_nonoverlapping(packed.weights.as_ptr(), p.out_weights, p.out_weights_len);
        std::ptr::copy_nonoverlapping(packed.bias.as_ptr(), p.out_bias, p.out_bias_len);
    }
}

kernel_params! {
/// Parameters of [`bqml_scale_panels`].
#[derive(Clone, Copy, Debug)]
pub struct ScalePanelsParams {
    /// `LAYOUT_PANELS` weights of one group: `panels * k_len * 16` floats.
    pub weights: *const f32,
    /// One factor per input channel: `in_channels` floats.
    pub scale: *const f32,
    /// Receives the scaled weights, in the same layout.
    pub out: *mut f32,
    pub panels: usize,
    /// Reduction length, `kernel_h * kernel_w * in_channels`.
    pub k_len: usize,
    pub in_channels: usize,
}
}

/// Scales packed panel weights per input channel: the weights of a convolution whose input
/// is multiplied by `scale[c]` along its channels (squeeze-excite), so that the convolution
/// reads the unscaled input. Reduction index `k` belongs to channel `k % in_channels`.
///
/// # Safety
/// `p` is valid and every pointer covers the element count its field documents.
#[no_mangle]
pub unsafe extern "C" fn bqml_scale_panels(p: *const ScalePanelsParams) {
    // SAFETY: the caller guarantees `p` points to a valid ScalePanelsParams.
    let p = unsafe { &*p };
    let n = p.panels * p.k_len * NR;
    // SAFETY: the caller guarantees the buffers' lengths; input and output do not overlap.
    let (w, s, out) = unsafe {
        (
            std::slice::from_raw_parts(p.weights, n),
            std::slice::from_raw_parts(p.scale, p.in_channels),
            std::slice::from_raw_parts_mut(p.out, n),
        )
    };
    // Row `k` of each panel (16 output channels) belongs to channel `k % in_channels`.
    let mut c = 0;
    for (src, dst) in w.chunks_exact(NR).zip(out.chunks_exact_mut(NR)) {
        let f = s[c];
        for (d, &x) in dst.iter_mut().zip(src) {
            *d = x * f;
        }
        c += 1;
        if c == p.in_channels {
            c = 0;
        }
    }
}
