"""The original README's gradient example prints exactly what that README says."""
import subprocess
import sys
import textwrap

EXAMPLE = textwrap.dedent("""
    import kittygrad_core as kitty
    a = kitty.tensor([1, 2, 3], requires_grad=True)
    b = a.std()
    b.retain_grad()
    c = b * kitty.dot(a, a)
    print(c)
    c.backward()
    print(a.grad)
    print(b.grad)
""")


def test_readme_gradient_example_output():
    result = subprocess.run([sys.executable, "-c", EXAMPLE], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines() == [
        "tensor(14., grad_fn=<MulBackward>)",
        "tensor([-5.,  4., 13.])",
        "tensor(14.)",
    ]
    assert result.stderr == ""
