//! How a layer's work splits between threads.
//!
//! The pool hands each thread a contiguous range of a step's work units. Panel convolutions
//! and Gemms have two kinds: output rows, or output-channel slices × rows
//! ([`kernels::ConvParams::channel_slices`]). Both give every thread the same arithmetic; they
//! differ in what each thread streams in full: with rows every thread reads all the weights,
//! with channel slices every thread reads all the input. So the split follows whichever is
//! larger. A 3×3 512→512 layer at 7² (9.4 MB of weights, 100 KB of input, 7 rows that two
//! threads cannot share evenly) splits by channels; a 3×3 64→128 layer at 56² by rows.
//! Large copies and generic element-wise ops (a model input's relayout and normalisation)
//! split along their longest axis.

/// Copies and generic element-wise ops from this many output bytes on split between threads
/// along one axis (`bqml_copy_rows`, `bqml_binary_rows`); smaller ones are not worth a job
/// hand-off (about 0.5 µs, plus the other core's cache misses on the data).
pub(super) const SPLIT_ELEMENTWISE_BYTES: usize = 256 << 10;

/// Most slices a layer gets: enough for 4 threads, few enough that one thread passing over
/// every slice re-reads only a small input a few times.
const MAX_SLICES: usize = 4;

/// Output-channel slices for a panel-layout convolution or Gemm with `weight_floats` packed
/// weights, `input_floats` of input read, and `out_channels_per_group` outputs: 1 (rows only)
/// unless the weights outweigh the input and there are at least two panel pairs to share.
pub(super) fn channel_slices(
    weight_floats: usize,
    input_floats: usize,
    out_channels_per_group: usize,
) -> usize {
    let pairs = out_channels_per_group.div_ceil(2 * kernels::NR);
    if weight_floats <= input_floats || pairs < 2 {
        return 1;
    }
    pairs.min(MAX_SLICES)
}

/// Channel slices for a depthwise layer with `out_h` output rows and `channels` channels:
/// maps of at most 8 rows (7² in the usual nets) split by channels, since two threads cannot
/// share 7 rows evenly and each would also read the kernel's extra input rows around its part.
/// Taller maps split by rows: there a slice's few channels cost more than the halo rows (at
/// 28² × 144 channels of EfficientNet-Lite0, 4 slices took a 5×5 layer from 0.10 to 0.16 ms
/// at 2 threads; at 7² × 1152 they took 0.06 to 0.05).
pub(super) fn depthwise_slices(out_h: usize, channels: usize) -> usize {
    let pairs = channels.div_ceil(2 * kernels::DW_BLOCK);
    if out_h > 8 || pairs < 2 {
        return 1;
    }
    pairs.min(MAX_SLICES)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ResNet-18's shapes: weight-heavy small maps split by channels, large maps by rows.
    #[test]
    fn weights_or_input_decide_the_split() {
        let conv = |cin: usize, cout: usize, k: usize, in_side: usize| {
            let weights = cout.next_multiple_of(16) * cin * k * k;
            channel_slices(weights, in_side * in_side * cin, cout)
        };
        assert_eq!(conv(512, 512, 3, 9), 4, "3×3 512 at 7²");
        assert_eq!(conv(256, 512, 1, 14), 4, "1×1 downsample to 7²");
        assert_eq!(conv(64, 128, 3, 57), 1, "3×3/2 64→128 from 56²");
        assert_eq!(conv(3, 64, 7, 229), 1, "stem");
        assert_eq!(conv(512, 16, 3, 9), 1, "one panel pair only");
        // The classifier Gemm: one row of 512 against 512×1000 weights.
        assert_eq!(channel_slices(1008 * 512, 512, 1000), 4);
    }

    #[test]
    fn only_short_depthwise_maps_split_by_channels() {
        assert_eq!(depthwise_slices(7, 1152), 4);
        assert_eq!(depthwise_slices(7, 16), 1, "one block pair");
        assert_eq!(depthwise_slices(7, 40), 3);
        assert_eq!(depthwise_slices(14, 672), 1);
        assert_eq!(depthwise_slices(112, 32), 1);
    }
}
