"""Check the decision trees of a loaded skops model before scikit-learn walks them. Sandbox only.

skops does not trust `sklearn.tree._tree.Tree` by default, and says why: its node array holds raw
child and feature indices that scikit-learn's Cython code follows without bounds checks, so a
crafted file makes `predict` read outside the arrays (a SIGSEGV, or other memory turned into
predictions) or loop forever. mlsecops trusts the type because every tree model is built from it,
so the indices are checked here instead: every split's children come after it and inside the
node array (scikit-learn numbers nodes that way; it also rules out cycles), every split's
feature is one the model takes, and every node has its values. The same for the
HistGradientBoosting `TreePredictor` and its categorical bitsets.
"""

from __future__ import annotations

from typing import Any

import numpy as np

MAX_OBJECTS = 1_000_000


class BadTree(Exception):
    """A tree whose indices do not hold together. `str()` says which."""


def check(model: Any) -> int:
    """Walk the model's objects and check every tree in it; return how many were checked."""
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    from sklearn.tree._tree import Tree

    seen: set[int] = set()
    stack: list[tuple[Any, int | None]] = [(model, None)]
    trees = 0
    while stack:
        obj, width = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, (str, bytes, int, float, bool)):
            continue
        seen.add(id(obj))
        if len(seen) > MAX_OBJECTS:
            raise BadTree(f"the model holds more than {MAX_OBJECTS} objects")
        if isinstance(obj, Tree):
            _tree(obj, width)
            trees += 1
            continue
        if isinstance(obj, TreePredictor):
            _predictor(obj, width)
            trees += 1
            continue
        if isinstance(obj, np.ndarray):
            if obj.dtype == object:
                stack.extend((x, width) for x in obj.ravel())
            continue
        if isinstance(obj, dict):
            stack.extend((x, width) for x in obj.values())
            continue
        if isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend((x, width) for x in obj)
            continue
        attrs = getattr(obj, "__dict__", None)
        if isinstance(attrs, dict):
            own = attrs.get("n_features_in_")
            inner = int(own) if isinstance(own, (int, np.integer)) else width
            stack.extend((x, inner) for x in attrs.values())
    return trees


def _children(left: np.ndarray, right: np.ndarray, split: np.ndarray, n: int, what: str) -> None:
    idx = np.arange(n)
    for name, child in (("left", left), ("right", right)):
        bad = split & ((child <= idx) | (child >= n))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise BadTree(f"{what}: node {i}'s {name} child is {int(child[i])}, not a later node of {n}")


def _tree(tree: Any, width: int | None) -> None:
    n = int(tree.node_count)
    left, right = np.asarray(tree.children_left), np.asarray(tree.children_right)
    feature, value = np.asarray(tree.feature), np.asarray(tree.value)
    if min(len(left), len(right), len(feature), value.shape[0] if value.ndim else 0) < n or n < 1:
        raise BadTree(f"a tree of {n} nodes has shorter node or value arrays")
    leaf = left == -1
    if (leaf != (right == -1)).any():
        raise BadTree("a node has one child")
    _children(left, right, ~leaf, n, "a tree")
    limit = int(tree.n_features) if width is None else min(int(tree.n_features), width)
    bad = ~leaf & ((feature < 0) | (feature >= limit))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise BadTree(f"a tree: node {i} splits on feature {int(feature[i])}, and the model takes {limit}")


def _predictor(pred: Any, width: int | None) -> None:
    nodes = pred.nodes
    n = len(nodes)
    if n < 1:
        raise BadTree("a gradient-boosting tree without nodes")
    split = ~nodes["is_leaf"].astype(bool)
    _children(nodes["left"].astype(np.int64), nodes["right"].astype(np.int64), split, n, "a gradient-boosting tree")
    if width is not None:
        bad = split & (nodes["feature_idx"].astype(np.int64) >= width)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise BadTree(f"a gradient-boosting tree: node {i} splits on feature {int(nodes['feature_idx'][i])}, "
                          f"and the model takes {width}")
    cat = split & nodes["is_categorical"].astype(bool)
    if cat.any():
        bitsets = len(np.asarray(pred.raw_left_cat_bitsets))
        bad = cat & (nodes["bitset_idx"].astype(np.int64) >= bitsets)
        if bad.any():
            raise BadTree(f"a gradient-boosting tree: a categorical split names bitset "
                          f"{int(nodes['bitset_idx'][np.flatnonzero(bad)[0]])} of {bitsets}")
