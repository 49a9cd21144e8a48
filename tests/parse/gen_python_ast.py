#!/usr/bin/env python3
"""tests/parse/gen_python_ast.py: write python_ast.txt, the oracle for the parser test, from Python's
own parser (the ast module): for each source, the tree with every node's span.

Run from anywhere with Python >= 3.8:  python3 tests/parse/gen_python_ast.py
The output is committed; the test (test_parse.c) never runs Python.

Format: pairs of lines
    src <source, with \\ and \n escaped>
    ast <one S-expression per statement, separated by ' | '>
Node forms (L:C-L:C is the span: 1-based line and byte column of the first character, and of the
first character after the node, as Python's lineno/col_offset/end_lineno/end_col_offset + 1):
    (assign L:C-L:C NAME VALUE)  (expr L:C-L:C VALUE)
    (int L:C-L:C 2)  (float L:C-L:C %.17g)  (str L:C-L:C "...")  (name L:C-L:C x)
    (bool L:C-L:C True)  (none L:C-L:C)  (list L:C-L:C ITEMS...)  (tuple L:C-L:C ITEMS...)
    (call L:C-L:C FN ARGS... (kw L:C-L:C NAME VALUE)...)  (attr L:C-L:C NAME OBJ)
    (neg|pos L:C-L:C X)  (add|sub|mul|div|pow|matmul L:C-L:C LHS RHS)
"""
import ast
import os

SOURCES = [
    # precedence and associativity, as Python has them
    "-2**2", "2**-1", "a - b - c", "a @ b * c", "a * b @ c", "a / b / c", "2 ** 3 ** 2",
    "-x ** -y", "- - x", "+x - -y", "a + b * c ** d", "a - b + c", "a * -b", "-a * b",
    "(a + b) * c", "((a))", "a * (b - c) / d", "x ** 2 / 2", "w11 * x1 + w12 * x2 + b1",
    # attributes, calls, keyword arguments
    "x.T", "x.grad", "x.T.T", "-x.T", "x.T @ x", "L.backward()", "L.backward(retain_graph=True)",
    "f(a, b, dim=-1, keepdim=True)", "f(g(x), h(y, z=1))", "sum(x, dim=0).item()",
    "relu(w11 * x1 + w12 * x2 + b1)", "a.b.c(d).e", "x.item()", "(f)(x)", "f(a,)",
    "softmax(x @ W.T + b, dim=-1)", "L.backward(tensor([[1.0, 1.0]]))",
    # literals: numbers (int vs float), strings, True False None, lists, tuples
    "2", "2.0", "1e-3", ".5", "2.", "1E+3", "0.1", "123456789", "3.25e10", "007.5",
    "True", "False", "None", "'a'", "\"file name.svg\"", "'it\\'s'", "\"tab\\there\"",
    "'back\\\\slash'", "\"q\\\"q\"",
    "[1, [2, 3]]", "[[1.0, 0.5], [-0.2, 0.5]]", "[]", "[1,]", "[[[1]]]",
    "(0.9, 0.999)", "(1,)", "()", "((1, 2), (3,))",
    "adam(lr=1e-3, betas=(0.9, 0.999))", "tensor([0, 1])", "param(randn(2, 3))",
    "tensor([[1.0, 0.5]], requires_grad=True)",
    # statements
    "x = 1", "z1 = w11 * x1 + w12 * x2 + b1", "a = 1; b = 2", "a = 1;", "x = (a + b)",
    "w = w - 0.1 * w.grad", "L = bce(sigmoid(z3), y)", "opt = sgd(lr=0.1, momentum=0.0)",
    "x1 = 1.0; x2 = 0.5; y = 1.0", "N = dim(4)", "X = randn(N, D)",
    # lines, comments, implicit and explicit joining, byte columns
    "a = 1\nb = f(1,\n      2)", "y = f(a,  # comment\n      b)", "x = 1 \\\n  + 2",
    "# only a comment\nx = 2  # trailing\n\n\ny", "v = [1,\n     [2, 3],\n]",
    "s = '\u00e9' + t", "'\u00e9\u00e9' + u", "t = (1,\n 2)",
    "m = f(\n  a,\n  k=(b +\n     c),\n)",
]


def span(n):
    return "%d:%d-%d:%d" % (n.lineno, n.col_offset + 1, n.end_lineno, n.end_col_offset + 1)


def qstr(s):
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20:
            out.append("\\x%02x" % ord(ch))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


BINOPS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow",
          ast.MatMult: "matmul"}


def node(n):
    s = span(n)
    if isinstance(n, ast.Constant):
        v = n.value
        if v is None:
            return "(none %s)" % s
        if isinstance(v, bool):
            return "(bool %s %s)" % (s, v)
        if isinstance(v, int):
            return "(int %s %d)" % (s, v)
        if isinstance(v, float):
            return "(float %s %s)" % (s, "%.17g" % v)
        if isinstance(v, str):
            return "(str %s %s)" % (s, qstr(v))
        raise ValueError(v)
    if isinstance(n, ast.Name):
        return "(name %s %s)" % (s, n.id)
    if isinstance(n, (ast.List, ast.Tuple)):
        k = "list" if isinstance(n, ast.List) else "tuple"
        return "(%s %s%s)" % (k, s, "".join(" " + node(e) for e in n.elts))
    if isinstance(n, ast.Call):
        parts = [node(n.func)] + [node(a) for a in n.args]
        parts += ["(kw %s %s %s)" % (span(k), k.arg, node(k.value)) for k in n.keywords]
        return "(call %s %s)" % (s, " ".join(parts))
    if isinstance(n, ast.Attribute):
        return "(attr %s %s %s)" % (s, n.attr, node(n.value))
    if isinstance(n, ast.UnaryOp):
        k = {ast.USub: "neg", ast.UAdd: "pos"}[type(n.op)]
        return "(%s %s %s)" % (k, s, node(n.operand))
    if isinstance(n, ast.BinOp):
        return "(%s %s %s %s)" % (BINOPS[type(n.op)], s, node(n.left), node(n.right))
    raise ValueError(ast.dump(n))


def stmt(n):
    if isinstance(n, ast.Assign):
        assert len(n.targets) == 1 and isinstance(n.targets[0], ast.Name)
        return "(assign %s %s %s)" % (span(n), n.targets[0].id, node(n.value))
    if isinstance(n, ast.Expr):
        return "(expr %s %s)" % (span(n), node(n.value))
    raise ValueError(ast.dump(n))


def esc(src):
    return src.replace("\\", "\\\\").replace("\n", "\\n")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "python_ast.txt"), "w", encoding="utf-8") as f:
        f.write("# generated by gen_python_ast.py from Python's ast module; do not edit\n")
        for src in SOURCES:
            tree = ast.parse(src)
            f.write("src " + esc(src) + "\n")
            f.write("ast " + " | ".join(stmt(s) for s in tree.body) + "\n")


if __name__ == "__main__":
    main()
