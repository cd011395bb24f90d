// Reductions: warp and block sum/max used by the row kernels (softmax.cu, linear.cu), and the combine step of the
// broadcast-gradient reduction (a cupy.ReductionKernel whose accumulator is float for float16 and float32 inputs and
// double for float64). max propagates NaN, as NumPy and PyTorch do.

namespace gpuad {

template <typename A> __device__ __forceinline__ A nan_max(const A a, const A b) { return (a != a || a > b) ? a : b; }

// The broadcast-gradient reduction's combine step: plain addition in the accumulator type.
template <typename A> __device__ __forceinline__ A sum_combine(const A a, const A b) { return a + b; }

template <typename A> __device__ __forceinline__ A warp_sum(A v) {
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

template <typename A> __device__ __forceinline__ A warp_max(A v) {
    for (int offset = 16; offset > 0; offset >>= 1) v = nan_max(v, __shfl_xor_sync(0xffffffffu, v, offset));
    return v;
}

// Sum (or max) over a 1-D block whose size is a multiple of 32; every thread receives the result. Safe to call
// several times in a row: the first barrier keeps a new call from overwriting what the previous one still reads.
template <typename A> __device__ A block_sum(A v) {
    __shared__ A partial[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    return warp_sum(lane < warps ? partial[lane] : A(0));
}

template <typename A> __device__ A block_max(A v, const A identity) {
    __shared__ A partial[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    return warp_max(lane < warps ? partial[lane] : identity);
}

}  // namespace gpuad

#ifdef GPUAD_COMPILE_CHECK
__global__ void check_reductions(const float* x, double* y) {
    const float f = gpuad::block_max(gpuad::block_sum(x[threadIdx.x]), -1e30f);
    y[threadIdx.x] = gpuad::sum_combine(gpuad::block_sum((double)f), 1.0) + gpuad::nan_max(1.0, 2.0);
}
#endif
