/// The normalization engine's kernels: statistics, normalize + affine, and the two halves of the
/// backward pass (per-channel reductions, then the elementwise input gradient), for row-major
/// and channels-last storage, with SIMD loops (`Primitives.swift`) and threads
/// (``Parallelism``).
///
/// Every kernel takes a ``NormalizationGeometry`` and raw pointers. They are stateless and
/// validate nothing: the functional core checks shapes before calling. `Reference.swift` keeps
/// the plain scalar form of each beside them; the tests compare the two.
///
/// Generic code reaches the kernels only through ``KernelCall``: see `Specialization.swift`.
enum Kernels {}
