// Row-wise softmax / log-softmax and the fused cross-entropy pair, over the last axis of a contiguous (rows, cols)
// array. One block per row (grid-stride over rows), float accumulation for float16 and float32.
//   softmax_fwd:        y = exp(x - max) / sum, or x - logsumexp(x) for LOG: three passes over the row in one launch
//   softmax_bwd:        gx = y (g - sum(g y)), or g - exp(y) sum(g) for LOG
//   cross_entropy_fwd:  loss[r] = log s - (x[r, t[r]] - m) with s = sum exp(x[r] - m), keeping m[r] and log s[r] for
//                       backward (as gpuad/backends/generic.py does: m is 0 where it is not finite); counts bad targets
//   cross_entropy_bwd:  gx = (exp((x - m) - log s) - onehot(t)) * g[r * g_stride]: one pass, one launch. Keeping m
//                       and log s, not their sum, keeps float32 logits near 1e8 precise.
#include "common.cuh"
#include "reductions.cu"

namespace gpuad {

// The row's max m and sum of exp(x - m), computed by the whole block; every thread receives both.
template <typename T, typename A>
__device__ __forceinline__ void row_max_sum_exp(const T* xr, const index_t cols, A& m, A& s) {
    m = neg_inf<A>();
    for (index_t c = threadIdx.x; c < cols; c += blockDim.x) m = nan_max(m, load(xr[c]));
    m = block_max(m, neg_inf<A>());
    s = A(0);
    for (index_t c = threadIdx.x; c < cols; c += blockDim.x) s += exp(load(xr[c]) - m);
    s = block_sum(s);
}

template <typename T, bool LOG>
__global__ void softmax_fwd(const T* __restrict__ x, T* __restrict__ y, const index_t rows, const index_t cols) {
    typedef typename Acc<T>::type A;
    for (index_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* xr = x + r * cols;
        T* yr = y + r * cols;
        A m, s;
        row_max_sum_exp(xr, cols, m, s);
        if (LOG) {
            const A lse = m + log(s);
            for (index_t c = threadIdx.x; c < cols; c += blockDim.x) yr[c] = store<T>(load(xr[c]) - lse);
        } else {
            const A inv = A(1) / s;
            for (index_t c = threadIdx.x; c < cols; c += blockDim.x) yr[c] = store<T>(exp(load(xr[c]) - m) * inv);
        }
    }
}

template <typename T, bool LOG>
__global__ void softmax_bwd(const T* __restrict__ g, const T* __restrict__ y, T* __restrict__ gx, const index_t rows,
                            const index_t cols) {
    typedef typename Acc<T>::type A;
    for (index_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* gr = g + r * cols;
        const T* yr = y + r * cols;
        T* out = gx + r * cols;
        A dot = A(0);
        for (index_t c = threadIdx.x; c < cols; c += blockDim.x) dot += LOG ? load(gr[c]) : load(gr[c]) * load(yr[c]);
        dot = block_sum(dot);
        for (index_t c = threadIdx.x; c < cols; c += blockDim.x) {
            const A gv = load(gr[c]), yv = load(yr[c]);
            out[c] = store<T>(LOG ? gv - exp(yv) * dot : yv * (gv - dot));
        }
    }
}

// I: the target's integer type (int or long long). bad[0] counts targets outside [0, cols); their rows get NaN.
// The row's max m (0 where it is not finite, as on the CPU) and log sum exp(x - m); every thread receives both.
template <typename T, typename A>
__device__ __forceinline__ void row_stats(const T* xr, const index_t cols, A& m, A& log_s) {
    m = neg_inf<A>();
    for (index_t c = threadIdx.x; c < cols; c += blockDim.x) m = nan_max(m, load(xr[c]));
    m = block_max(m, neg_inf<A>());
    if (!isfinite(m)) m = A(0);
    A s = A(0);
    for (index_t c = threadIdx.x; c < cols; c += blockDim.x) s += exp(load(xr[c]) - m);
    log_s = log(block_sum(s));
}

template <typename T, typename I>
__global__ void cross_entropy_fwd(const T* __restrict__ x, const I* __restrict__ target,
                                  typename Acc<T>::type* __restrict__ loss, typename Acc<T>::type* __restrict__ m_out,
                                  typename Acc<T>::type* __restrict__ log_s_out, int* __restrict__ bad,
                                  const index_t rows, const index_t cols) {
    typedef typename Acc<T>::type A;
    for (index_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* xr = x + r * cols;
        A m, log_s;
        row_stats(xr, cols, m, log_s);
        if (threadIdx.x == 0) {
            const I t = target[r];
            m_out[r] = m;
            log_s_out[r] = log_s;
            if (t < 0 || (index_t)t >= cols) {
                atomicAdd(bad, 1);
                loss[r] = A(0) / A(0);  // NaN, and the Python side raises
            } else {
                loss[r] = log_s - (load(xr[t]) - m);  // never subtracts two large numbers (|x| ~ 1e8 in float)
            }
        }
    }
}

template <typename T, typename I>
__global__ void cross_entropy_bwd(const T* __restrict__ x, const I* __restrict__ target,
                                  const typename Acc<T>::type* __restrict__ m,
                                  const typename Acc<T>::type* __restrict__ log_s, const T* __restrict__ g,
                                  const index_t g_stride, T* __restrict__ gx, const index_t rows, const index_t cols) {
    typedef typename Acc<T>::type A;
    const index_t n = rows * cols;
    for (index_t i = blockIdx.x * (index_t)blockDim.x + threadIdx.x; i < n; i += (index_t)blockDim.x * gridDim.x) {
        const index_t r = i / cols, c = i - r * cols;
        const A p = exp((load(x[i]) - m[r]) - log_s[r]);
        const A hot = (index_t)target[r] == c ? A(1) : A(0);
        gx[i] = store<T>((p - hot) * load(g[r * g_stride]));
    }
}

}  // namespace gpuad
