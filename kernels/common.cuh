// Storage and compute types for gpuad's RawKernels: float16 (__half) is loaded into float, computed in float and
// stored back as __half; float computes in float and double in double. Included by the other kernel files (the
// Python loader inlines local includes, so CuPy's compile cache sees the whole source).
#pragma once
#include <cuda_fp16.h>

namespace gpuad {

template <typename T> struct Acc { typedef float type; };
template <> struct Acc<double> { typedef double type; };

__device__ __forceinline__ float load(const float v) { return v; }
__device__ __forceinline__ double load(const double v) { return v; }
__device__ __forceinline__ float load(const __half v) { return __half2float(v); }

template <typename T> __device__ __forceinline__ T store(const typename Acc<T>::type v) { return (T)v; }
template <> __device__ __forceinline__ __half store<__half>(const float v) { return __float2half(v); }

template <typename A> __device__ __forceinline__ A neg_inf();
template <> __device__ __forceinline__ float neg_inf<float>() { return -__int_as_float(0x7f800000); }
template <> __device__ __forceinline__ double neg_inf<double>() { return -__longlong_as_double(0x7ff0000000000000ULL); }

// The row-major (rows, cols) arrays the RawKernels take are indexed with 64-bit offsets.
typedef long long index_t;

}  // namespace gpuad
