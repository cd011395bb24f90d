// The fused linear layer's epilogue around the cuBLAS GEMM z = x W^T (gpuad.nn.functional.linear):
//   bias_act_fwd: z += b, then the activation, in one pass over z. relu writes a 1-byte mask for backward; gelu keeps
//                 the pre-activation in z and writes the output separately; tanh and sigmoid work in place.
//   bias_act_bwd: dz = g * activation'(saved) and the bias gradient's column sums in one launch: each block owns 32
//                 columns of a chunk of rows, its 8 row groups walk the rows (coalesced) and reduce through shared
//                 memory; chunks give the GPU enough blocks, and their partial sums are added by one more small
//                 launch where there are several. No atomics: the sum is deterministic.
// ACT: 0 none, 1 relu, 2 gelu, 3 tanh, 4 sigmoid (as in gpuad/backends/cuda_kernels.py).
#include "common.cuh"
#include "elementwise.cu"

namespace gpuad {

enum { ACT_NONE = 0, ACT_RELU = 1, ACT_GELU = 2, ACT_TANH = 3, ACT_SIGMOID = 4 };

template <typename T, int ACT, bool BIAS>
__global__ void bias_act_fwd(T* __restrict__ z, const T* __restrict__ b, T* __restrict__ out,
                             unsigned char* __restrict__ mask, const index_t rows, const index_t cols) {
    typedef typename Acc<T>::type A;
    const index_t n = rows * cols;
    for (index_t i = blockIdx.x * (index_t)blockDim.x + threadIdx.x; i < n; i += (index_t)blockDim.x * gridDim.x) {
        A v = load(z[i]);
        if (BIAS) v += load(b[i % cols]);
        if (ACT == ACT_NONE) {
            z[i] = store<T>(v);
        } else if (ACT == ACT_RELU) {
            const bool on = v > A(0);
            mask[i] = on;
            z[i] = store<T>(on || v != v ? v : A(0));  // NaN stays NaN, as in NumPy and PyTorch
        } else if (ACT == ACT_GELU) {
            z[i] = store<T>(v);
            out[i] = store<T>(gelu_fwd(v));
        } else if (ACT == ACT_TANH) {
            z[i] = store<T>(tanh(v));
        } else {
            z[i] = store<T>(sigmoid_fwd(v));
        }
    }
}

#define GPUAD_BWD_COLS 32
#define GPUAD_BWD_ROW_GROUPS 8

// saved: the output for tanh and sigmoid, the pre-activation for gelu, unused for relu (mask) and none.
// Block (32, 8) owns 32 columns of one chunk of rows (blockIdx.y of gridDim.y chunks); partial[chunk * cols + c] gets
// the chunk's column sum in the compute type, and the caller adds the chunks (one launch more where there are several).
template <typename T, int ACT, bool BIAS>
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
            if (ACT == ACT_RELU) d = mask[i] ? d : A(0);
            else if (ACT == ACT_GELU) d *= gelu_slope(load(saved[i]));
            else if (ACT == ACT_TANH) d *= tanh_slope_from_output(load(saved[i]));
            else if (ACT == ACT_SIGMOID) d *= sigmoid_slope_from_output(load(saved[i]));
            if (ACT != ACT_NONE) dz[i] = store<T>(d);
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
