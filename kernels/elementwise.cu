// Elementwise math: composite forwards and the fused backward (VJP) rules, as device functions on the compute type A
// (float for float16 and float32 storage, double for float64). gpuad/backends/cuda_kernels.py wraps each in a
// cupy.ElementwiseKernel that loads the stored values into A, calls the function once per element and stores the
// results: one launch writes every input gradient of an op (mul's two, tanh's one from the saved output), with
// CuPy's stride-aware indexing, so broadcast and non-contiguous operands need no copy.
// Conventions match the CPU path: relu'(0) = 0, abs'(0) = 0, maximum/minimum split the gradient at ties.

namespace gpuad {

// --- forward: the composites (single CuPy ufuncs cover the rest) ------------------------------------------------
template <typename A> __device__ __forceinline__ A sigmoid_fwd(const A x) {
    const A e = exp(-fabs(x));  // exp of -|x| only: never overflows
    return x >= A(0) ? A(1) / (A(1) + e) : e / (A(1) + e);
}

template <typename A> __device__ __forceinline__ A gelu_fwd(const A x) {
    return A(0.5) * x * (A(1) + erf(x * A(0.70710678118654752440)));
}

template <typename A> __device__ __forceinline__ A gelu_tanh_inner(const A x) {
    return A(0.79788456080286535588) * (x + A(0.044715) * x * x * x);
}

template <typename A> __device__ __forceinline__ A gelu_tanh_fwd(const A x) {
    return A(0.5) * x * (A(1) + tanh(gelu_tanh_inner(x)));
}

// --- activation slopes (shared with the fused linear layer in linear.cu) --------------------------------------
template <typename A> __device__ __forceinline__ A gelu_slope(const A x) {
    const A cdf = A(0.5) * (A(1) + erf(x * A(0.70710678118654752440)));
    const A pdf = exp(A(-0.5) * x * x) * A(0.39894228040143267794);
    return cdf + x * pdf;
}

template <typename A> __device__ __forceinline__ A gelu_tanh_slope(const A x) {
    const A t = tanh(gelu_tanh_inner(x));
    return A(0.5) * (A(1) + t)
        + A(0.5) * x * (A(1) - t * t) * A(0.79788456080286535588) * (A(1) + A(3) * A(0.044715) * x * x);
}

template <typename A> __device__ __forceinline__ A sigmoid_slope_from_output(const A y) { return y * (A(1) - y); }
template <typename A> __device__ __forceinline__ A tanh_slope_from_output(const A y) { return A(1) - y * y; }

// --- backward of unary ops: g times the derivative, from the saved input x or output y ---------------------
template <typename A> __device__ __forceinline__ A exp_bwd(const A g, const A y) { return g * y; }
template <typename A> __device__ __forceinline__ A log_bwd(const A g, const A x) { return g / x; }
template <typename A> __device__ __forceinline__ A log1p_bwd(const A g, const A x) { return g / (x + A(1)); }
template <typename A> __device__ __forceinline__ A sqrt_bwd(const A g, const A y) { return g * (A(0.5) / y); }
template <typename A> __device__ __forceinline__ A sin_bwd(const A g, const A x) { return g * cos(x); }
template <typename A> __device__ __forceinline__ A cos_bwd(const A g, const A x) { return -g * sin(x); }
template <typename A> __device__ __forceinline__ A tan_bwd(const A g, const A y) { return g * (A(1) + y * y); }
template <typename A> __device__ __forceinline__ A tanh_bwd(const A g, const A y) { return g * tanh_slope_from_output(y); }
template <typename A> __device__ __forceinline__ A sigmoid_bwd(const A g, const A y) {
    return g * sigmoid_slope_from_output(y);
}
template <typename A> __device__ __forceinline__ A relu_bwd(const A g, const A y) { return y > A(0) ? g : A(0); }
template <typename A> __device__ __forceinline__ A abs_bwd(const A g, const A x) {
    return x > A(0) ? g : (x < A(0) ? -g : A(0));
}
template <typename A> __device__ __forceinline__ A erf_bwd(const A g, const A x) {
    return g * A(1.12837916709551257390) * exp(-x * x);
}
template <typename A> __device__ __forceinline__ A gelu_bwd(const A g, const A x) { return g * gelu_slope(x); }
template <typename A> __device__ __forceinline__ A gelu_tanh_bwd(const A g, const A x) { return g * gelu_tanh_slope(x); }

// --- backward of binary ops: both input gradients from one read of g, a and b ---------------------------------
template <typename A> __device__ __forceinline__ void mul_bwd(const A g, const A a, const A b, A& ga, A& gb) {
    ga = g * b;
    gb = g * a;
}

template <typename A> __device__ __forceinline__ void div_bwd(const A g, const A a, const A b, A& ga, A& gb) {
    ga = g / b;
    gb = -ga * (a / b);
}

// maximum/minimum: a takes the gradient where it wins, b where it wins, each half at ties.
template <typename A> __device__ __forceinline__ void maximum_bwd(const A g, const A a, const A b, A& ga, A& gb) {
    const A share = a > b ? A(1) : (a == b ? A(0.5) : A(0));
    ga = g * share;
    gb = g * (A(1) - share);
}

template <typename A> __device__ __forceinline__ void minimum_bwd(const A g, const A a, const A b, A& ga, A& gb) {
    const A share = a < b ? A(1) : (a == b ? A(0.5) : A(0));
    ga = g * share;
    gb = g * (A(1) - share);
}

}  // namespace gpuad
