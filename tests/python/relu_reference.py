"""Reference numbers for tests/test_score.cpp ("RelU fit"): the formula of docs/algorithms.md in NumPy.

W = relu(sym(lam * E_wrong[p p^T] - (1 - lam) * E_correct[p p^T])), zero diagonal,
unit Frobenius norm; confidence -p^T W p. Run: /usr/bin/python3 tests/python/relu_reference.py
"""
import numpy as np

np.set_printoptions(precision=17)
z = np.array([[2.0, 0.5, -1.0], [0.1, 0.3, 0.2], [-0.5, 1.5, 1.4],
              [3.0, -2.0, 0.0], [0.0, 0.0, 0.9], [1.0, 1.1, -0.3]])
correct = np.array([1, 0, 0, 1, 1, 0])
T = 1.5
lam = 0.5
p = np.exp(z / T) / np.exp(z / T).sum(1, keepdims=True)
outer = np.einsum("ni,nj->nij", p, p)
a = lam * outer[correct == 0].mean(0) - (1 - lam) * outer[correct == 1].mean(0)
w = np.maximum((a + a.T) / 2, 0)
np.fill_diagonal(w, 0)
w = w / np.linalg.norm(w)
print("W =", repr(w.ravel()))
zt = np.array([[0.2, -0.1, 0.4], [5.0, 0.0, 0.0]])
pt = np.exp(zt / T) / np.exp(zt / T).sum(1, keepdims=True)
print("conf =", repr(-np.einsum("ni,ij,nj->n", pt, w, pt)))
