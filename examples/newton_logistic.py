"""Logistic regression fitted by Newton's method, with the exact Hessian from kittygrad.

The objective is scikit-learn's ``LogisticRegression(C=1.0)``: an L2 penalty on the weights (not on
the intercept) plus ``C`` times the summed logistic loss, on the breast-cancer data set, standardised.
Each Newton step solves ``H d = g`` with the gradient from ``kitty.autograd.grad`` and the Hessian from
``kitty.autograd.functional.hessian`` (a gradient of a gradient: ``create_graph=True`` underneath).
The coefficients are then compared with scikit-learn's, fitted with a tight tolerance.

    python examples/newton_logistic.py
"""
from __future__ import annotations

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

import kittygrad as kitty

C = 1.0
MAX_ITERATIONS = 12
GRAD_TOLERANCE = 1e-8


def load() -> tuple[np.ndarray, np.ndarray]:
    """The standardised features and the labels as -1 / +1."""
    data = load_breast_cancer()
    features = StandardScaler().fit_transform(data.data)
    return features, np.where(data.target == 1, 1.0, -1.0)


def objective(theta: kitty.Tensor, features: kitty.Tensor, signs: kitty.Tensor) -> kitty.Tensor:
    """``0.5 |w|^2 + C sum log(1 + exp(-y (X w + b)))`` with ``theta = [w, b]``."""
    weights, intercept = theta[:-1], theta[-1]
    margins = signs * (features @ weights + intercept)
    # standardised features keep the margins far from exp's overflow (|m| < 700) on Newton's path
    loss = kitty.log(1 + kitty.exp(-margins))
    return 0.5 * (weights * weights).sum() + C * loss.sum()


def newton(features: np.ndarray, signs: np.ndarray) -> np.ndarray:
    """Minimises the objective from zero; prints each iteration's loss and gradient norm."""
    x, y = kitty.tensor(features), kitty.tensor(signs)
    theta = kitty.zeros(features.shape[1] + 1, dtype=kitty.float64)

    def f(t: kitty.Tensor) -> kitty.Tensor:
        return objective(t, x, y)

    for iteration in range(1, MAX_ITERATIONS + 1):
        theta.requires_grad_(True)
        loss = f(theta)
        (grad,) = kitty.autograd.grad(loss, theta)
        norm = float(np.linalg.norm(grad.numpy()))
        print(f"iteration {iteration:2d}: loss = {loss.item():.12f}, |grad| = {norm:.3e}")
        if norm < GRAD_TOLERANCE:
            break
        hessian = kitty.autograd.functional.hessian(f, theta.detach())
        step = np.linalg.solve(hessian.numpy(), grad.numpy())
        theta = kitty.tensor(theta.detach().numpy() - step)
    else:
        raise RuntimeError(f"Newton did not converge in {MAX_ITERATIONS} iterations")
    return theta.detach().numpy()


def main() -> None:
    features, signs = load()
    theta = newton(features, signs)
    reference = LogisticRegression(C=C, tol=1e-12, max_iter=100_000).fit(features, signs)
    ours = theta
    theirs = np.concatenate([reference.coef_.ravel(), reference.intercept_])
    print(f"{'':>10} {'kittygrad':>14} {'scikit-learn':>14}")
    for i, (a, b) in enumerate(zip(ours, theirs)):
        name = f"w[{i}]" if i < len(ours) - 1 else "intercept"
        print(f"{name:>10} {a:14.8f} {b:14.8f}")
    print(f"max |kitty - sklearn| = {np.abs(ours - theirs).max():.3e}")


if __name__ == "__main__":
    main()
