// Reductions: warp and block sum/max for the row kernels (softmax.cu), and SumOp, the combine step of the
// broadcast-gradient reduction (a cupy.ReductionKernel whose accumulator is float for float16 and float32 inputs and
// double for float64). max propagates NaN, as NumPy and PyTorch do.

namespace gpuad {

template <typename A> __device__ __forceinline__ A nan_max(const A a, const A b) { return (a != a || a > b) ? a : b; }

struct SumOp {
    template <typename A> __device__ __forceinline__ A operator()(const A a, const A b) const { return a + b; }
};
struct MaxOp {
    template <typename A> __device__ __forceinline__ A operator()(const A a, const A b) const { return nan_max(a, b); }
};

template <typename A, typename Op> __device__ __forceinline__ A warp_reduce(A v, const Op op) {
    for (int offset = 16; offset > 0; offset >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
    return v;
}

// Reduce over a 1-D block whose size is a multiple of 32; every thread receives the result. Safe to call several
// times in a row: the first barrier keeps a new call from overwriting what the previous one still reads.
template <typename A, typename Op> __device__ A block_reduce(A v, const A identity, const Op op) {
    __shared__ A partial[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
    v = warp_reduce(v, op);
    __syncthreads();
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    return warp_reduce(lane < warps ? partial[lane] : identity, op);
}

template <typename A> __device__ __forceinline__ A block_sum(const A v) { return block_reduce(v, A(0), SumOp()); }
template <typename A> __device__ __forceinline__ A block_max(const A v, const A identity) {
    return block_reduce(v, identity, MaxOp());
}

}  // namespace gpuad
