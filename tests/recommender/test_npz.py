"""recommender.npz: a model's arrays as npz bytes, read back without pickle."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import scipy.sparse as sp

from recommender.npz import csr_arrays, csr_from, npz_bytes


def test_arrays_come_back_as_saved_large_compressible_ones_deflated() -> None:
    rng = np.random.default_rng(3)
    arrays = {"counts": np.repeat(np.arange(50_000, dtype=np.int64) % 7, 2),  # 800 KB, repetitive
              "factors": rng.standard_normal((300, 300)).astype(np.float32),  # 360 KB, noise
              "ids": np.array(["p1", "kundé"]), "small": np.arange(3)}
    raw = npz_bytes(arrays)
    with np.load(io.BytesIO(raw), allow_pickle=False) as loaded:
        for name, array in arrays.items():
            np.testing.assert_array_equal(loaded[name], array)
            assert loaded[name].dtype == array.dtype
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        kinds = {info.filename: info.compress_type for info in archive.infolist()}
    assert kinds == {"counts.npy": zipfile.ZIP_DEFLATED, "factors.npy": zipfile.ZIP_STORED,
                     "ids.npy": zipfile.ZIP_STORED, "small.npy": zipfile.ZIP_STORED}


def test_a_matrix_with_anothers_structure_stores_only_its_data_and_shares_it_back() -> None:
    counts = sp.csr_matrix(np.array([[0, 2, 0], [1, 0, 3]], np.float32))
    decayed = sp.csr_matrix((counts.data * 0.5, counts.indices, counts.indptr), counts.shape)
    other = sp.csr_matrix(np.array([[1, 0, 0], [0, 0, 3]], np.float32))
    arrays = {**csr_arrays("counts", counts), **csr_arrays("decayed", decayed, like=counts),
              **csr_arrays("other", other, like=counts)}
    assert "decayed_indices" not in arrays and "other_indices" in arrays
    with np.load(io.BytesIO(npz_bytes(arrays)), allow_pickle=False) as loaded:
        counts_back = csr_from(loaded, "counts")
        decayed_back = csr_from(loaded, "decayed", counts_back)
        other_back = csr_from(loaded, "other", counts_back)
    assert np.shares_memory(decayed_back.indices, counts_back.indices)
    for back, matrix in ((counts_back, counts), (decayed_back, decayed), (other_back, other)):
        np.testing.assert_array_equal(back.toarray(), matrix.toarray())


def test_column_indices_are_stored_as_uint16_while_every_column_fits_and_read_as_int32() -> None:
    widest = sp.csr_matrix(([1.0, 2.0], ([0, 1], [0, 65_535])), shape=(2, 65_536),
                           dtype=np.float32)
    wider = sp.csr_matrix(([1.0, 2.0], ([0, 1], [0, 65_536])), shape=(2, 65_537),
                          dtype=np.float32)
    arrays = {**csr_arrays("widest", widest), **csr_arrays("wider", wider)}
    assert arrays["widest_indices"].dtype == np.uint16
    assert arrays["wider_indices"].dtype == np.int32
    old = {f"old_{part}": array for part, array in  # as models stored before: int32 indices
           zip(("data", "indices", "indptr"), (widest.data, widest.indices, widest.indptr),
               strict=True)} | {"old_shape": np.array(widest.shape, np.int64)}
    with np.load(io.BytesIO(npz_bytes({**arrays, **old})), allow_pickle=False) as loaded:
        for name, matrix in (("widest", widest), ("wider", wider), ("old", widest)):
            back = csr_from(loaded, name)
            assert back.indices.dtype == np.int32 and back.shape == matrix.shape
            np.testing.assert_array_equal(back.indices, matrix.indices)
            np.testing.assert_array_equal(back.data, matrix.data)
