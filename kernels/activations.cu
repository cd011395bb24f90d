// Activation forward kernels for the CUDA backend, templated on the storage type T.
// Each thread walks a grid-stride loop over a contiguous array of n elements; half is computed in float.
// Loaded by gpuad/backends/cuda.py through cupy.RawModule(name_expressions=["sigmoid_fwd<float>", ...]).
#include <cuda_fp16.h>

template <typename T> struct Acc { typedef float type; };
template <> struct Acc<double> { typedef double type; };

template <typename T> __device__ __forceinline__ typename Acc<T>::type load(const T v) { return v; }
template <> __device__ __forceinline__ float load<__half>(const __half v) { return __half2float(v); }
template <typename T> __device__ __forceinline__ T store(const typename Acc<T>::type v) { return (T)v; }
template <> __device__ __forceinline__ __half store<__half>(const float v) { return __float2half(v); }

// sigmoid(x) without overflow: exp is only taken of -|x|.
template <typename T>
__global__ void sigmoid_fwd(const T* __restrict__ x, T* __restrict__ y, const long long n) {
    typedef typename Acc<T>::type A;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)blockDim.x * gridDim.x) {
        const A v = load<T>(x[i]);
        const A e = exp(-fabs(v));
        y[i] = store<T>(v >= A(0) ? A(1) / (A(1) + e) : e / (A(1) + e));
    }
}

// gelu(x) = x * Phi(x) (exact, erf) or its tanh approximation.
template <typename T, bool TANH>
__global__ void gelu_fwd(const T* __restrict__ x, T* __restrict__ y, const long long n) {
    typedef typename Acc<T>::type A;
    const A k_sqrt_half = A(0.70710678118654752440);
    const A k_sqrt_2_over_pi = A(0.79788456080286535588);
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)blockDim.x * gridDim.x) {
        const A v = load<T>(x[i]);
        A out;
        if (TANH) {
            out = A(0.5) * v * (A(1) + tanh(k_sqrt_2_over_pi * (v + A(0.044715) * v * v * v)));
        } else {
            out = A(0.5) * v * (A(1) + erf(v * k_sqrt_half));
        }
        y[i] = store<T>(out);
    }
}

#ifdef GPUAD_COMPILE_CHECK
// Instantiate every template the backend asks for, so that `nvcc -DGPUAD_COMPILE_CHECK -ptx` checks them all.
template __global__ void sigmoid_fwd<float>(const float*, float*, long long);
template __global__ void sigmoid_fwd<double>(const double*, double*, long long);
template __global__ void sigmoid_fwd<__half>(const __half*, __half*, long long);
template __global__ void gelu_fwd<float, false>(const float*, float*, long long);
template __global__ void gelu_fwd<double, false>(const double*, double*, long long);
template __global__ void gelu_fwd<__half, false>(const __half*, __half*, long long);
template __global__ void gelu_fwd<float, true>(const float*, float*, long long);
template __global__ void gelu_fwd<double, true>(const double*, double*, long long);
template __global__ void gelu_fwd<__half, true>(const __half*, __half*, long long);
#endif
