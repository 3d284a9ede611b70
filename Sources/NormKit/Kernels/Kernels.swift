/// The normalization engine's kernels: moments, normalize + affine, and the two halves of the
/// backward pass (per-channel reductions, then the elementwise input gradient).
///
/// Every kernel takes a ``NormalizationGeometry`` and works on contiguous row-major storage.
/// They are stateless and validate nothing: the functional core checks shapes before calling.
enum Kernels {}
