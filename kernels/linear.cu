// The fused linear layer's epilogue around the cuBLAS GEMM z = x W^T (gpuad.nn.functional.linear):
//   bias_act_fwd: z += b, then the activation, in one pass over z. relu writes a 1-byte mask for backward; gelu keeps
//                 the pre-activation in z and writes the output separately; tanh and sigmoid work in place.
//   bias_act_bwd: dz = g * activation'(saved) and the bias gradient's column sums in one launch: each block owns 32
//                 columns of a chunk of rows, its 8 row groups walk the rows (coalesced) and reduce through shared
//                 memory; chunks give the GPU enough blocks, and their partial sums are added by one more small
//                 launch where there are several. No atomics: the sum is deterministic.
// ACT: an activation functor of gpuad::act below, one per record of gpuad/activations.py (its ``cuda`` field names
// it). Each says what backward keeps (KEEP), computes the activation (fwd) and its slope from what was kept (slope);
// relu keeps a 1-byte mask (mask). A new activation is one functor here plus one record there.
#include "common.cuh"
#include "elementwise.cu"

namespace gpuad {

namespace act {
enum { KEEP_NOTHING = 0, KEEP_MASK = 1, KEEP_INPUT = 2, KEEP_OUTPUT = 3 };

struct Base {  // defaults for the members an activation does not use
    template <typename A> static __device__ __forceinline__ bool mask(const A) { return false; }
    template <typename A> static __device__ __forceinline__ A slope(const A) { return A(1); }
};
struct Identity : Base {
    enum { KEEP = KEEP_NOTHING };
    template <typename A> static __device__ __forceinline__ A fwd(const A v) { return v; }
};
struct Relu : Base {
    enum { KEEP = KEEP_MASK };
    template <typename A> static __device__ __forceinline__ bool mask(const A v) { return v > A(0); }
    template <typename A> static __device__ __forceinline__ A fwd(const A v) {
        return v > A(0) || v != v ? v : A(0);  // NaN stays NaN, as in NumPy and PyTorch
    }
};
struct Gelu : Base {  // keeps the pre-activation
    enum { KEEP = KEEP_INPUT };
    template <typename A> static __device__ __forceinline__ A fwd(const A v) { return gelu_fwd(v); }
    template <typename A> static __device__ __forceinline__ A slope(const A z) { return gelu_slope(z); }
};
struct Tanh : Base {  // keeps the output
    enum { KEEP = KEEP_OUTPUT };
    template <typename A> static __device__ __forceinline__ A fwd(const A v) { return tanh(v); }
    template <typename A> static __device__ __forceinline__ A slope(const A y) { return tanh_slope_from_output(y); }
};
struct Sigmoid : Base {  // keeps the output
    enum { KEEP = KEEP_OUTPUT };
    template <typename A> static __device__ __forceinline__ A fwd(const A v) { return sigmoid_fwd(v); }
    template <typename A> static __device__ __forceinline__ A slope(const A y) {
        return sigmoid_slope_from_output(y);
    }
};
}  // namespace act

// z: the GEMM output, overwritten with the activation's output, except where the activation keeps its input (then
// the output goes to out); mask: relu's 1-byte mask.
template <typename T, typename ACT, bool BIAS>
__global__ void bias_act_fwd(T* __restrict__ z, const T* __restrict__ b, T* __restrict__ out,
                             unsigned char* __restrict__ mask, const index_t rows, const index_t cols) {
    typedef typename Acc<T>::type A;
    const index_t n = rows * cols;
    for (index_t i = blockIdx.x * (index_t)blockDim.x + threadIdx.x; i < n; i += (index_t)blockDim.x * gridDim.x) {
        A v = load(z[i]);
        if (BIAS) v += load(b[i % cols]);
        if (ACT::KEEP == act::KEEP_MASK) mask[i] = ACT::mask(v);
        if (ACT::KEEP == act::KEEP_INPUT) {
            z[i] = store<T>(v);
            out[i] = store<T>(ACT::fwd(v));
        } else {
            z[i] = store<T>(ACT::fwd(v));
        }
    }
}

#define GPUAD_BWD_COLS 32
#define GPUAD_BWD_ROW_GROUPS 8

// saved: what the activation kept (its output or its input); unused for relu (mask) and the identity.
// Block (32, 8) owns 32 columns of one chunk of rows (blockIdx.y of gridDim.y chunks); partial[chunk * cols + c] gets
// the chunk's column sum in the compute type, and the caller adds the chunks (one launch more where there are several).
template <typename T, typename ACT, bool BIAS>
__global__ void bias_act_bwd(const T* __restrict__ g, const T* __restrict__ saved,
                             const unsigned char* __restrict__ mask, T* __restrict__ dz,
                             typename Acc<T>::type* __restrict__ partial, const index_t rows, const index_t cols) {
    typedef typename Acc<T>::type A;
    __shared__ A tile[GPUAD_BWD_ROW_GROUPS][GPUAD_BWD_COLS + 1];
    const index_t c = blockIdx.x * (index_t)GPUAD_BWD_COLS + threadIdx.x;
    const index_t chunk = (rows + gridDim.y - 1) / gridDim.y;
    const index_t first = blockIdx.y * chunk;
    const index_t last = first + chunk < rows ? first + chunk : rows;
    A sum = A(0);
    if (c < cols) {
        for (index_t r = first + threadIdx.y; r < last; r += GPUAD_BWD_ROW_GROUPS) {
            const index_t i = r * cols + c;
            A d = load(g[i]);
            if (ACT::KEEP == act::KEEP_MASK) d = mask[i] ? d : A(0);
            else if (ACT::KEEP != act::KEEP_NOTHING) d *= ACT::slope(load(saved[i]));
            if (ACT::KEEP != act::KEEP_NOTHING) dz[i] = store<T>(d);
            sum += d;
        }
    }
    if (!BIAS) return;  // the same for the whole block: no thread waits at the barrier below
    tile[threadIdx.y][threadIdx.x] = sum;
    __syncthreads();
    if (threadIdx.y == 0 && c < cols) {
        A total = A(0);
        for (int k = 0; k < GPUAD_BWD_ROW_GROUPS; ++k) total += tile[k][threadIdx.x];
        partial[blockIdx.y * cols + c] = total;
    }
}

}  // namespace gpuad
