"""Array interop: numpy arrays, torch tensors, __cuda_array_interface__ and
DLPack.

Every tensor argument is reduced to a _Tensor: an address, a shape, element
strides, a sparsa dtype and a device. Nothing is copied: the library reads
and writes the caller's memory, so the _Tensor keeps whatever owns that
memory (the array, or an unconsumed DLPack capsule) alive while it is used.
"""

import ctypes

import numpy as np

from . import capi

F32, F16, BF16 = capi.SPARSA_DTYPE_F32, capi.SPARSA_DTYPE_F16, capi.SPARSA_DTYPE_BF16
DTYPE_NAMES = {F32: "float32", F16: "float16", BF16: "bfloat16"}
_ITEMSIZE = {F32: 4, F16: 2, BF16: 2}
# numpy's typestr of __array_interface__ / __cuda_array_interface__.
_TYPESTR = {"<f4": F32, "<f2": F16}

CPU, CUDA = "cpu", "cuda"


class _Tensor:
    __slots__ = ("address", "shape", "strides", "dtype", "device", "owner", "readonly")

    def __init__(self, address, shape, strides, dtype, device, owner, readonly=False):
        self.address = address
        self.readonly = readonly
        self.shape = tuple(int(s) for s in shape)
        self.strides = tuple(int(s) for s in strides)  # in elements
        self.dtype = dtype
        self.device = device
        self.owner = owner

    @property
    def ndim(self):
        return len(self.shape)


def _element_strides(byte_strides, itemsize, name):
    strides = []
    for s in byte_strides:
        if s % itemsize:
            raise ValueError(f"{name}: stride of {s} bytes is not a multiple of the element size")
        strides.append(s // itemsize)
    return strides


def _packed_strides(shape):
    strides, step = [], 1
    for extent in reversed(shape):
        strides.append(step)
        step *= int(extent)
    return list(reversed(strides))


def _from_interface(iface, owner, device, name):
    dtype = _TYPESTR.get(iface["typestr"])
    if dtype is None:
        raise TypeError(f"{name}: element type {iface['typestr']!r} is not float32 or float16")
    shape = iface["shape"]
    if iface.get("strides") is None:
        strides = _packed_strides(shape)
    else:
        strides = _element_strides(iface["strides"], _ITEMSIZE[dtype], name)
    address, readonly = iface["data"]
    return _Tensor(address, shape, strides, dtype, device, owner, bool(readonly))


# DLPack's C structs, read through ctypes.
class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", _DLDevice),
        ("ndim", ctypes.c_int32),
        ("dtype", _DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


_DL_CPU, _DL_CUDA = 1, 2
_DL_FLOAT, _DL_BFLOAT = 2, 4
_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


def _from_dlpack(obj, name):
    # The capsule is not consumed: its destructor frees the tensor when the
    # _Tensor that holds it goes away, after the library has used it.
    capsule = obj.__dlpack__()
    # DLManagedTensor starts with its DLTensor.
    dl = _DLTensor.from_address(_capsule_pointer(capsule, b"dltensor"))
    code, bits, lanes = dl.dtype.code, dl.dtype.bits, dl.dtype.lanes
    if lanes != 1:
        raise TypeError(f"{name}: vector element types are not supported")
    dtype = {(_DL_FLOAT, 32): F32, (_DL_FLOAT, 16): F16, (_DL_BFLOAT, 16): BF16}.get((code, bits))
    if dtype is None:
        raise TypeError(f"{name}: element type (code {code}, {bits} bits) is not float32, float16 or bfloat16")
    if dl.device.device_type == _DL_CPU:
        device = CPU
    elif dl.device.device_type == _DL_CUDA:
        device = CUDA
    else:
        raise ValueError(f"{name}: DLPack device type {dl.device.device_type} is not CPU or CUDA")
    shape = [dl.shape[i] for i in range(dl.ndim)]
    strides = [dl.strides[i] for i in range(dl.ndim)] if dl.strides else _packed_strides(shape)
    address = (dl.data or 0) + dl.byte_offset
    return _Tensor(address, shape, strides, dtype, device, (obj, capsule))


_TORCH_DTYPES = {"torch.float32": F32, "torch.float16": F16, "torch.bfloat16": BF16}


def _from_torch(t, name):
    # Read directly rather than through DLPack, whose export may order the
    # producer's stream against another one (a sync the caller did not ask
    # for, and one that breaks CUDA graph capture).
    dtype = _TORCH_DTYPES.get(str(t.dtype))
    if dtype is None:
        raise TypeError(f"{name}: element type {t.dtype} is not float32, float16 or bfloat16")
    if t.device.type not in (CPU, CUDA):
        raise ValueError(f"{name}: tensors on {t.device.type} are not supported")
    return _Tensor(t.data_ptr(), tuple(t.shape), tuple(t.stride()), dtype, t.device.type, t)


def _is_torch(obj):
    return type(obj).__module__.startswith("torch") and hasattr(obj, "data_ptr") and hasattr(obj, "stride")


def as_tensor(obj, name):
    """Reduce an array-like to a _Tensor, without copying."""
    if isinstance(obj, np.ndarray):
        return _from_interface(obj.__array_interface__, obj, CPU, name)
    if _is_torch(obj):
        return _from_torch(obj, name)
    if hasattr(obj, "__cuda_array_interface__") and not hasattr(obj, "__dlpack__"):
        return _from_interface(obj.__cuda_array_interface__, obj, CUDA, name)
    if hasattr(obj, "__dlpack__"):
        return _from_dlpack(obj, name)
    if hasattr(obj, "__cuda_array_interface__"):
        return _from_interface(obj.__cuda_array_interface__, obj, CUDA, name)
    if hasattr(obj, "__array_interface__"):
        return _from_interface(obj.__array_interface__, obj, CPU, name)
    raise TypeError(f"{name}: expected a numpy array, a CUDA array or a DLPack tensor, "
                    f"got {type(obj).__name__}")


def writable(t, name):
    """Outputs must be writable memory that no input shares."""
    if t.readonly:
        raise ValueError(f"{name}: the array is read-only")
    return t


def overlap(a, b):
    """Whether two numpy arrays may share memory (other kinds: unknown, so no)."""
    return (isinstance(a.owner, np.ndarray) and isinstance(b.owner, np.ndarray)
            and np.may_share_memory(a.owner, b.owner))


def raw_buffer(obj, name):
    """(address, bytes, device) of a contiguous byte buffer: a numpy array
    or a torch tensor (its caching allocator serves CUDA workspaces)."""
    if isinstance(obj, np.ndarray):
        if not obj.flags.c_contiguous:
            raise ValueError(f"{name}: must be contiguous")
        return obj.ctypes.data, obj.nbytes, CPU
    if _is_torch(obj):
        if not obj.is_contiguous():
            raise ValueError(f"{name}: must be contiguous")
        return obj.data_ptr(), obj.numel() * obj.element_size(), obj.device.type
    raise TypeError(f"{name}: expected a numpy array or a torch tensor, got {type(obj).__name__}")


def index_array(values, dtype, name):
    """A contiguous copy of small integer inputs (patterns copy them anyway)."""
    arr = np.ascontiguousarray(np.asarray(values, dtype=dtype))
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D sequence, got {arr.ndim} dimensions")
    return arr
