import Foundation

/// The logistic function, shared by the preference losses.
func sigmoid(_ x: Float) -> Float { 1 / (1 + exp(-x)) }

/// -log sigmoid(x) = softplus(-x), without overflow for large |x|.
func negativeLogSigmoid(_ x: Float) -> Float { max(-x, 0) + log1p(exp(-abs(x))) }
