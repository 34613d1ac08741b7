#!/usr/bin/env python3
"""Compares two raw float32 logit dumps: cmp.py A.bin B.bin N_VOCAB TOKENS.txt
Prints max abs/relative difference, exact matches, argmax agreement and the
perplexity of the token list under both (row i predicts token i+1)."""
import array, math, sys

def load(path):
    a = array.array('f')
    with open(path, 'rb') as f:
        a.frombytes(f.read())
    return a

a, b = load(sys.argv[1]), load(sys.argv[2])
V = int(sys.argv[3])
toks = [int(x) for x in open(sys.argv[4]).read().split()]
assert len(a) == len(b), (len(a), len(b))
n = len(a) // V
maxd = maxrel = 0.0
exact = agree = 0
nll = [0.0, 0.0]
for i in range(n):
    ra, rb = a[i * V:(i + 1) * V], b[i * V:(i + 1) * V]
    d = max(abs(x - y) for x, y in zip(ra, rb))
    maxd = max(maxd, d)
    maxrel = max(maxrel, d / max(abs(x) for x in ra))
    exact += sum(1 for x, y in zip(ra, rb) if x == y)
    agree += max(range(V), key=ra.__getitem__) == max(range(V), key=rb.__getitem__)
    if i + 1 < n:
        for k, r in enumerate((ra, rb)):
            m = max(r)
            nll[k] += m + math.log(sum(math.exp(x - m) for x in r)) - r[toks[i + 1]]
ppl = [math.exp(x / max(1, n - 1)) for x in nll]
print(f"rows {n}  max|d| {maxd:.3g}  max rel {maxrel:.3g}  exact {exact}/{n * V}  "
      f"argmax agree {agree}/{n}  ppl {ppl[0]:.6f} vs {ppl[1]:.6f}")
