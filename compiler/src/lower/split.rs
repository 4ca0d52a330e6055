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
