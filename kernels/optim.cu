// Optimizer updates, one fused pass per parameter: the parameter, its gradient and its moment buffers are read once
// and written once. Device functions on the compute type A, called from cupy.ElementwiseKernels that update the
// arrays in place. The arithmetic follows torch.optim (and gpuad's CPU path) term by term.

namespace gpuad {

// SGD: d = g + wd p; with momentum, buf = d on the first step, else momentum buf + (1 - dampening) d; Nesterov uses
// d + momentum buf; p -= lr d.
template <typename A>
__device__ __forceinline__ void sgd_step(A& p, const A g, A& buf, const A lr, const A momentum,
                                         const A one_minus_dampening, const A weight_decay, const bool nesterov,
                                         const bool first) {
    A d = weight_decay != A(0) ? g + weight_decay * p : g;
    if (momentum != A(0)) {
        buf = first ? d : momentum * buf + one_minus_dampening * d;
        d = nesterov ? d + momentum * buf : buf;
    }
    p -= lr * d;
}

// Adam / AdamW: m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g g; p -= step_size m / (sqrt(v) / sqrt(bc2) + eps), with
// step_size = lr / bc1 and the bias corrections bc = 1 - beta^step. Adam's weight decay adds l2 p to the gradient;
// AdamW's multiplies p by decay = 1 - lr wd first. The scalars come from the host in double, as on the CPU path.
template <typename A>
__device__ __forceinline__ void adam_step(A& p, A g, A& m, A& v, const A beta1, const A one_minus_beta1,
                                          const A beta2, const A one_minus_beta2, const A eps, const A l2,
                                          const A decay, const A step_size, const A sqrt_bias_correction2) {
    if (l2 != A(0)) g += l2 * p;
    if (decay != A(1)) p *= decay;
    m = beta1 * m + one_minus_beta1 * g;
    v = beta2 * v + one_minus_beta2 * g * g;
    const A denom = sqrt(v) / sqrt_bias_correction2 + eps;
    p -= step_size * (m / denom);
}

}  // namespace gpuad
