/* llm-telemetry's replacement for mlx-c 0.7.0's `mlx/c/half.h` (installed by
 * scripts/setup-mlx.sh). mlx-c declares `float16_t` and `bfloat16_t` only on ARM, while mlx-rs
 * uses them on every target. Here they exist everywhere:
 * - ARM: the native half types, as in mlx-c;
 * - C++ elsewhere (compiling mlx-c): MLX's own 16-bit types, which its templates are
 *   instantiated for;
 * - C elsewhere (bindgen): `_Float16` and `__bf16`, 16-bit types of the same size that bindgen
 *   maps to what mlx-rs expects. mlx-c passes them only by pointer, so the layouts agree. */

#ifndef MLX_HALF_H
#define MLX_HALF_H

#if defined(__ARM_FEATURE_FP16_SCALAR_ARITHMETIC) || defined(__aarch64__)
#define HAS_FLOAT16
#include <arm_fp16.h>
typedef __fp16 float16_t;
#elif defined(__cplusplus)
#define HAS_FLOAT16
#include "mlx/types/half_types.h"
typedef mlx::core::float16_t float16_t;
#else
#define HAS_FLOAT16
typedef _Float16 float16_t;
#endif

#if defined(__ARM_FEATURE_BF16) || defined(__aarch64__)
#define HAS_BFLOAT16
#include <arm_bf16.h>
typedef __bf16 bfloat16_t;
#elif defined(__cplusplus)
#define HAS_BFLOAT16
#include "mlx/types/half_types.h"
typedef mlx::core::bfloat16_t bfloat16_t;
#else
#define HAS_BFLOAT16
typedef __bf16 bfloat16_t;
#endif

#endif
