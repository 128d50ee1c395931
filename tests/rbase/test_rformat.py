"""Unit tests for :mod:`mixedmodels.rbase.rformat` and :mod:`mixedmodels.rbase.rmath` against known
R 4.2.2 output.

Every expected value below was produced by the R expression in the comment
above it (R 4.2.2, default options: digits = 7, width = 80, scipen = 0,
UTF-8 locale); character results are ``as.character(<expr>)`` and numeric
ones are compared exactly (``sprintf("%.17g", <expr>)`` in R).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mixedmodels.rbase import rformat as rf
from mixedmodels.rbase import rmath as rm

# --- format() / format.default() -------------------------------------------
FORMAT_CASES = [
    # R: format(c(1.5, 10.25, 100), digits = 4)
    (lambda: rf.format_num([1.5, 10.25, 100], digits=4),
     ['  1.50', ' 10.25', '100.00']),
    # R: format(c(1.5, 10.25, 100))
    (lambda: rf.format_num([1.5, 10.25, 100]),
     ['  1.50', ' 10.25', '100.00']),
    # R: format(c(123456789, 0.0001))
    (lambda: rf.format_num([123456789, 0.0001]),
     ['1.234568e+08', '1.000000e-04']),
    # R: format(1e-20)
    (lambda: rf.format_num([1e-20]),
     ['1e-20']),
    # R: format(c(-1, 1e10), digits = 3)
    (lambda: rf.format_num([-1, 1e10], digits=3),
     ['-1e+00', ' 1e+10']),
    # R: format(9996, digits = 3)
    (lambda: rf.format_num([9996], digits=3),
     ['9996']),
    # R: format(c(9.9996, 99.96), digits = 3)
    (lambda: rf.format_num([9.9996, 99.96], digits=3),
     [' 10', '100']),
    # R: format(0.1 + 0.2, digits = 17)
    (lambda: rf.format_num([0.1 + 0.2], digits=17),
     ['0.30000000000000004']),
    # R: format(c(NA, 1.5, -2))
    (lambda: rf.format_num([float("nan"), 1.5, -2]),
     ['  NA', ' 1.5', '-2.0']),
    # R: format(c(Inf, -Inf, 1))
    (lambda: rf.format_num([float("inf"), float("-inf"), 1]),
     [' Inf', '-Inf', '   1']),
    # R: format(c(1, 10, 100), nsmall = 2)
    (lambda: rf.format_num([1, 10, 100], nsmall=2),
     ['  1.00', ' 10.00', '100.00']),
    # R: format(3.14159, nsmall = 2)
    (lambda: rf.format_num([3.14159], nsmall=2),
     ['3.14159']),
    # R: format(c(0.5, -0.25, 1), nsmall = 3)
    (lambda: rf.format_num([0.5, -0.25, 1], nsmall=3),
     [' 0.500', '-0.250', ' 1.000']),
    # R: format(123456.7)
    (lambda: rf.format_num([123456.7]),
     ['123456.7']),
    # R: format(1e15)
    (lambda: rf.format_num([1e15]),
     ['1e+15']),
    # R: format(1e5)
    (lambda: rf.format_num([1e5]),
     ['1e+05']),
    # R: format(100000)
    (lambda: rf.format_num([100000.0]),
     ['1e+05']),
    # R: format(c(6.121e14, 3.507e13, 6.549e14), digits = 4)
    (lambda: rf.format_num([6.121e14, 3.507e13, 6.549e14], digits=4),
     ['6.121e+14', '3.507e+13', '6.549e+14']),
    # R: format(c(24740658.1, 5922138.4, 25591796.3), digits = 4)
    (lambda: rf.format_num([24740658.1, 5922138.4, 25591796.3], digits=4),
     ['24740658', ' 5922138', '25591796']),
    # R: format(c(2.474e-11, 5.922e-12, 2.559e-11), digits = 4)
    (lambda: rf.format_num([2.474e-11, 5.922e-12, 2.559e-11], digits=4),
     ['2.474e-11', '5.922e-12', '2.559e-11']),
    # R: format(c(1e-300, 1e300))
    (lambda: rf.format_num([1e-300, 1e300]),
     ['1e-300', '1e+300']),
    # R: format(c(0, -0.0001234, 5), digits = 2)
    (lambda: rf.format_num([0, -0.0001234, 5], digits=2),
     [' 0.00000', '-0.00012', ' 5.00000']),
    # R: format(-0)
    (lambda: rf.format_num([-0.0]),
     ['0']),
    # R: format(c(0.001234, 123.4), digits = 3, scientific = TRUE)
    (lambda: rf.format_num([0.001234, 123.4], digits=3, scientific=True),
     ['1.23e-03', '1.23e+02']),
    # R: format(1e10, scientific = FALSE)
    (lambda: rf.format_num([1e10], scientific=False),
     ['10000000000']),
    # R: format(c(2.675, 1.005), digits = 3)
    (lambda: rf.format_num([2.675, 1.005], digits=3),
     ['2.67', '1.00']),
    # R: format(c(0.15, 0.25, 0.35), digits = 1)
    (lambda: rf.format_num([0.15, 0.25, 0.35], digits=1),
     ['0.1', '0.2', '0.3']),
    # R: format(c(1, 2.5), width = 8)
    (lambda: rf.format_num([1, 2.5], width=8),
     ['     1.0', '     2.5']),
    # R: format(c(1, 22.5), trim = TRUE)
    (lambda: rf.format_num([1, 22.5], trim=True),
     ['1.0', '22.5']),
    # R: format(round(c(1, -0.13755186731534869, -0.13755186731534869, 1), 3), nsmall = 3)
    (lambda: rf.format_num(rm.r_round([1, -0.13755186731534869, -0.13755186731534869, 1], 3), nsmall=3),
     [' 1.000', '-0.138', '-0.138', ' 1.000']),
]

# --- round() / signif() / zapsmall() / quantile() --------------------------
ROUND_CASES = [
    # R: sprintf("%.17g", round(2.675, 2))
    (lambda: rm.r_round(2.675, 2),
     [2.67]),
    # R: sprintf("%.17g", round(0.15, 1))
    (lambda: rm.r_round(0.15, 1),
     [0.1]),
    # R: sprintf("%.17g", round(-1.005, 2))
    (lambda: rm.r_round(-1.005, 2),
     [-1.0]),
    # R: sprintf("%.17g", round(2.5))
    (lambda: rm.r_round(2.5),
     [2.0]),
    # R: sprintf("%.17g", round(-0.5))
    (lambda: rm.r_round(-0.5),
     [-0.0]),
    # R: sprintf("%.17g", round(1234.5678, -2))
    (lambda: rm.r_round(1234.5678, -2),
     [1200.0]),
    # R: sprintf("%.17g", round(0.285, 2))
    (lambda: rm.r_round(0.285, 2),
     [0.28]),
    # R: sprintf("%.17g", round(1743.6282719599519, 1))
    (lambda: rm.r_round(1743.6282719599519, 1),
     [1743.6]),
    # R: sprintf("%.17g", round(5e-324, 400))
    (lambda: rm.r_round(5e-324, 400),
     [5e-324]),
    # R: sprintf("%.17g", round(1/3, 15))
    (lambda: rm.r_round(1/3, 15),
     [0.333333333333333]),
    # R: sprintf("%.17g", signif(123456, 2))
    (lambda: rm.r_signif(123456, 2),
     [120000.0]),
    # R: sprintf("%.17g", signif(0.000123456, 3))
    (lambda: rm.r_signif(0.000123456, 3),
     [0.000123]),
    # R: sprintf("%.17g", signif(-2.5, 1))
    (lambda: rm.r_signif(-2.5, 1),
     [-2.0]),
    # R: sprintf("%.17g", signif(pi))
    (lambda: rm.r_signif(3.141592653589793),
     [3.14159]),
    # R: sprintf("%.17g", signif(1.5e300, 1))
    (lambda: rm.r_signif(1.5e300, 1),
     [1.0000000000000006e+300]),
    # R: sprintf("%.17g", zapsmall(c(1, 1e-20, 0.123456789)))
    (lambda: rf.zapsmall([1, 1e-20, 0.123456789]),
     [1.0, 0.0, 0.1234568]),
    # R: sprintf("%.17g", zapsmall(c(-3.95356734536703, -0.4634, 2.3e-08, 5.17925), 5))
    (lambda: rf.zapsmall([-3.95356734536703, -0.4634, 2.3e-08, 5.17925], 5),
     [-3.9536, -0.4634, 0.0, 5.1792]),
    # R: sprintf("%.17g", quantile(c(3.1, -1, 2.2, 0.7, 10, 4.4)))
    (lambda: rm.quantile7([3.1, -1, 2.2, 0.7, 10, 4.4]),
     [-1.0, 1.075, 2.6500000000000004, 4.075, 10.0]),
    # R: sprintf("%.17g", quantile(c(1, 2), c(0.1, 0.333, 0.9)))
    (lambda: rm.quantile7([1, 2], [0.1, 0.333, 0.9]),
     [1.1, 1.333, 1.9]),
    # R: sprintf("%.17g", quantile(5))
    (lambda: rm.quantile7([5]),
     [5.0, 5.0, 5.0, 5.0, 5.0]),
]

# --- format.pval() ---------------------------------------------------------
PVAL_CASES = [
    # R: format.pval(c(0.05, 1e-20, 0.00012), digits = 3)
    (lambda: rf.format_pval([0.05, 1e-20, 0.00012], digits=3),
     ['0.05000', '< 2e-16', '0.00012']),
    # R: format.pval(c(3.26e-06, 1e-17), digits = 3)
    (lambda: rf.format_pval([3.26e-06, 1e-17], digits=3),
     ['3.26e-06', '< 2e-16']),
    # R: format.pval(c(0.0202, 0.4978, 1.55e-07), digits = 3)
    (lambda: rf.format_pval([0.0202, 0.4978, 1.55e-07], digits=3),
     ['0.0202', '0.4978', '1.55e-07']),
    # R: format.pval(c(0.7809, 1e-20, 0.4393), digits = 4)
    (lambda: rf.format_pval([0.7809, 1e-20, 0.4393], digits=4),
     ['0.7809', '<2e-16', '0.4393']),
    # R: format.pval(1e-20, digits = 3)
    (lambda: rf.format_pval([1e-20], digits=3),
     ['<2e-16']),
    # R: format.pval(1e-20, digits = 1)
    (lambda: rf.format_pval([1e-20], digits=1),
     ['<2e-16']),
    # R: format.pval(c(NA, 0.5))
    (lambda: rf.format_pval([float("nan"), 0.5]),
     ['NA', '0.5']),
    # R: format.pval(c(0.00001234, 0.5), digits = 2)
    (lambda: rf.format_pval([0.00001234, 0.5], digits=2),
     ['1.2e-05', '0.5']),
    # R: format.pval(0.0001234, digits = 3)
    (lambda: rf.format_pval([0.0001234], digits=3),
     ['0.000123']),
    # R: format.pval(0.0001234, digits = 1)
    (lambda: rf.format_pval([0.0001234], digits=1),
     ['1e-04']),
    # R: format.pval(c(1, 0.99999), digits = 3)
    (lambda: rf.format_pval([1, 0.99999], digits=3),
     ['1', '1']),
    # R: format.pval(1e-5, eps = 1e-4)
    (lambda: rf.format_pval([1e-5], eps=1e-4),
     ['< 1e-04']),
]

# --- abbreviate() ----------------------------------------------------------
ABBR_CASES = [
    # R: unname(abbreviate(c("(Intercept)", "Days"), minlength = 6))
    (lambda: rf.abbreviate(["(Intercept)", "Days"], minlength=6),
     ['(Intr)', 'Days']),
    # R: unname(abbreviate(c("(Intercept)", "age", "SexFemale", "age:SexFemale"), minlength = 6))
    (lambda: rf.abbreviate(["(Intercept)", "age", "SexFemale", "age:SexFemale"], minlength=6),
     ['(Intr)', 'age', 'SexFml', 'ag:SxF']),
    # R: unname(abbreviate(c("(Intercept)", "age", "SexFemale", "age:SexFemale"), minlength = 11))
    (lambda: rf.abbreviate(["(Intercept)", "age", "SexFemale", "age:SexFemale"], minlength=11),
     ['(Intercept)', 'age', 'SexFemale', 'age:SexFeml']),
    # R: unname(abbreviate(c("factor(nitro)0.2", "factor(nitro)0.4", "VarietyMarvellous",
    #      "factor(nitro)0.2:VarietyMarvellous", "factor(nitro)0.2:VarietyVictory"), minlength = 6))
    (lambda: rf.abbreviate(["factor(nitro)0.2", "factor(nitro)0.4", "VarietyMarvellous", "factor(nitro)0.2:VarietyMarvellous", "factor(nitro)0.2:VarietyVictory"], minlength=6),
     ['fc()0.2', 'f()0.4', 'VrtyMr', 'f()0.2:VM', 'f()0.2:VV']),
    # R: unname(abbreviate(c("factor(nitro)0.2", "factor(nitro)0.4", "VarietyMarvellous",
    #      "factor(nitro)0.2:VarietyMarvellous", "factor(nitro)0.2:VarietyVictory"), minlength = 11))
    (lambda: rf.abbreviate(["factor(nitro)0.2", "factor(nitro)0.4", "VarietyMarvellous", "factor(nitro)0.2:VarietyMarvellous", "factor(nitro)0.2:VarietyVictory"], minlength=11),
     ['fctr(nt)0.2', 'fctr(nt)0.4', 'VartyMrvlls', 'fct()0.2:VM', 'fct()0.2:VV']),
    # R: unname(abbreviate(c("New Hampshire", "New Jersey", "New Mexico", "New York"), minlength =
    #      4))
    (lambda: rf.abbreviate(["New Hampshire", "New Jersey", "New Mexico", "New York"], minlength=4),
     ['NwHm', 'NwJr', 'NwMx', 'NwYr']),
    # R: unname(abbreviate(c("temperature.L", "temperature.Q", "recipeB:temperature^4"), minlength =
    #      6))
    (lambda: rf.abbreviate(["temperature.L", "temperature.Q", "recipeB:temperature^4"], minlength=6),
     ['tmpr.L', 'tmpr.Q', 'rcB:^4']),
    # R: unname(abbreviate("poly(Days, 2)1", minlength = 6))
    (lambda: rf.abbreviate(["poly(Days, 2)1"], minlength=6),
     ['p(D,2)']),
    # R: unname(abbreviate(c("abc", "abcdefghij"), minlength = 4, strict = TRUE))
    (lambda: rf.abbreviate(["abc", "abcdefghij"], minlength=4, strict=True),
     ['abc', 'abcd']),
    # R: unname(abbreviate(c("aaaa1", "aaaa2", "aaaa1"), minlength = 2))
    (lambda: rf.abbreviate(["aaaa1", "aaaa2", "aaaa1"], minlength=2),
     ['a1', 'a2', 'a1']),
    # R: unname(abbreviate(c("Sepal.Length", "Sepal.Width"), minlength = 4, dot = TRUE))
    (lambda: rf.abbreviate(["Sepal.Length", "Sepal.Width"], minlength=4, dot=True),
     ['Sp.L.', 'Sp.W.']),
]

# --- formatC() -------------------------------------------------------------
FORMATC_CASES = [
    # R: formatC(3.14159, digits = 3, format = "f")
    (lambda: rf.format_c(3.14159, digits=3, format="f"),
     ['3.142']),
    # R: formatC(c(1, 10, 100), width = 6, format = "d", flag = "0")
    (lambda: rf.format_c([1, 10, 100], width=6, format="d", flag="0"),
     ['000001', '000010', '000100']),
    # R: formatC(0.000012345, format = "fg", digits = 3)
    (lambda: rf.format_c(0.000012345, format="fg", digits=3),
     ['0.0000123']),
    # R: formatC(c(123.456, 99.99), format = "fg", digits = 2)
    (lambda: rf.format_c([123.456, 99.99], format="fg", digits=2),
     ['123', '100']),
    # R: formatC(123.456, format = "e", digits = 2)
    (lambda: rf.format_c(123.456, format="e", digits=2),
     ['1.23e+02']),
    # R: formatC(1e6, format = "g")
    (lambda: rf.format_c(1e6, format="g"),
     ['1e+06']),
    # R: formatC(c(-1.5, 2), width = 8, format = "f", digits = 1, flag = "-")
    (lambda: rf.format_c([-1.5, 2], width=8, format="f", digits=1, flag="-"),
     ['-1.5    ', '2.0     ']),
    # R: formatC(3.14159, width = 10, format = "E", digits = 3)
    (lambda: rf.format_c(3.14159, width=10, format="E", digits=3),
     [' 3.142E+00']),
    # R: formatC(c(1.5, NA, Inf), format = "f", digits = 2)
    (lambda: rf.format_c([1.5, float("nan"), float("inf")], format="f", digits=2),
     ['1.50', ' NA', 'Inf']),
    # R: formatC(0 + c(-Inf, 2, Inf), digits = 3, width = 1L)  (cut()'s labels: "(2, Inf]")
    (lambda: rf.format_c([-math.inf, 2.0, math.inf], digits=3, width=1),
     ['-Inf', '2', ' Inf']),
    # R: formatC(c(-1.5, -Inf), width = 8, format = "f", digits = 1, flag = "-")
    (lambda: rf.format_c([-1.5, -math.inf], width=8, format="f", digits=1, flag="-"),
     ['-1.5    ', '-Inf    ']),
    # R: formatC(42L)
    (lambda: rf.format_c(np.array([42])),
     ['42']),
    # R: formatC(0.1, format = "fg", digits = 3, flag = "#")
    (lambda: rf.format_c(0.1, format="fg", digits=3, flag="#"),
     ['0.100']),
]

# --- strwrap(), cat(fill = TRUE), print() of named vectors and character matrices 
TEXT_CASES = [
    # R: strwrap("Linear mixed model fit by maximum likelihood . t-tests use Satterthwaite's method",
    #      width = 78, exdent = 2)
    (lambda: rf.strwrap("Linear mixed model fit by maximum likelihood . t-tests use Satterthwaite's method", width=78, exdent=2),
     ["Linear mixed model fit by maximum likelihood . t-tests use Satterthwaite's", '  method']),
    # R: strwrap("The quick brown fox jumps over the lazy dog.  It was  very quick.", width = 20,
    #      indent = 2, prefix = "> ")
    (lambda: rf.strwrap("The quick brown fox jumps over the lazy dog.  It was  very quick.", width=20, indent=2, prefix="> "),
     ['>   The quick brown', '> fox jumps over', '> the lazy dog.  It', '> was very quick.']),
    # R: strwrap("aaaaaaaaaaaaaaaaaaaaaaaaa bb cc", width = 10)
    (lambda: rf.strwrap("aaaaaaaaaaaaaaaaaaaaaaaaa bb cc", width=10),
     ['aaaaaaaaaaaaaaaaaaaaaaaaa', 'bb cc']),
    # R: capture.output(cat("Formula:", "y ~ a + b", fill = TRUE))
    (lambda: rf.cat_fill(["Formula:", "y ~ a + b"]).rstrip("\n").split("\n"),
     ['Formula: y ~ a + b']),
    # R: capture.output(cat("Formula:", strrep("x", 75), fill = TRUE))
    (lambda: rf.cat_fill(["Formula:", "x" * 75]).rstrip("\n").split("\n"),
     ['Formula: ', 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx']),
    # R: capture.output(cat("a", "b", "c", sep = "", fill = 2))
    (lambda: rf.cat_fill(["a", "b", "c"], sep="", fill=2).rstrip("\n").split("\n"),
     ['ab', 'c']),
    # R: capture.output(print(c(Min = -3.95356734536703, `1Q` = -0.463425, Median = 0.023, `3Q` =
    #      0.4634, Max = 5.17925), digits = 4))
    (lambda: rf.print_named_real([-3.95356734536703, -0.463425, 0.023, 0.4634, 5.17925], ["Min", "1Q", "Median", "3Q", "Max"], digits=4),
     ['    Min      1Q  Median      3Q     Max ', '-3.9536 -0.4634  0.0230  0.4634  5.1792 ']),
    # R: capture.output(print(setNames(format(c(1.5, 22.25, 333)), c("a", "bbbbbbbbbbbb", "c")),
    #      quote = FALSE))
    (lambda: rf.print_named_vector(rf.format_num([1.5, 22.25, 333]), ["a", "bbbbbbbbbbbb", "c"]),
     ['           a bbbbbbbbbbbb            c ', '        1.50        22.25       333.00 ']),
    # R: capture.output(print.default(setNames(format(1:30 * 1.5), paste0("coefficient", 1:30)),
    #      print.gap = 2L, quote = FALSE))
    (lambda: rf.print_named_vector(rf.format_num(np.arange(1, 31) * 1.5), [f"coefficient{i}" for i in range(1, 31)], gap=2),
     [' coefficient1   coefficient2   coefficient3   coefficient4   coefficient5  ', '          1.5            3.0            4.5            6.0            7.5  ', ' coefficient6   coefficient7   coefficient8   coefficient9  coefficient10  ', '          9.0           10.5           12.0           13.5           15.0  ', 'coefficient11  coefficient12  coefficient13  coefficient14  coefficient15  ', '         16.5           18.0           19.5           21.0           22.5  ', 'coefficient16  coefficient17  coefficient18  coefficient19  coefficient20  ', '         24.0           25.5           27.0           28.5           30.0  ', 'coefficient21  coefficient22  coefficient23  coefficient24  coefficient25  ', '         31.5           33.0           34.5           36.0           37.5  ', 'coefficient26  coefficient27  coefficient28  coefficient29  coefficient30  ', '         39.0           40.5           42.0           43.5           45.0  ']),
    # R: capture.output(print(matrix(c("a", "bb", "ccc", "", "-0.5", "x"), 2, dimnames = list(c("r1",
    #      "row2"), c("A", "Bcol", "C"))), quote = FALSE))
    (lambda: rf.print_matrix([["a", "ccc", "-0.5"], ["bb", "", "x"]], ["r1", "row2"], ["A", "Bcol", "C"]),
     ['     A  Bcol C   ', 'r1   a  ccc  -0.5', 'row2 bb      x   ']),
    # R: capture.output(print(matrix(c("a", "bb", "ccc", "", "-0.5", "x"), 2, dimnames = list(c("r1",
    #      "row2"), c("A", "Bcol", "C"))), quote = FALSE, right = TRUE))
    (lambda: rf.print_matrix([["a", "ccc", "-0.5"], ["bb", "", "x"]], ["r1", "row2"], ["A", "Bcol", "C"], right=True),
     ['      A Bcol    C', 'r1    a  ccc -0.5', 'row2 bb         x']),
    # R: capture.output(print(matrix(strrep("z", 1:24), 2, dimnames = list(c("first", "second"),
    #      paste0("column", 1:12))), quote = FALSE))
    (lambda: rf.print_matrix([["z" * k for k in range(1, 25, 2)], ["z" * k for k in range(2, 25, 2)]], ["first", "second"], [f"column{j}" for j in range(1, 13)]),
     ['       column1 column2 column3 column4  column5    column6      column7       ', 'first  z       zzz     zzzzz   zzzzzzz  zzzzzzzzz  zzzzzzzzzzz  zzzzzzzzzzzzz ', 'second zz      zzzz    zzzzzz  zzzzzzzz zzzzzzzzzz zzzzzzzzzzzz zzzzzzzzzzzzzz', '       column8          column9            column10            ', 'first  zzzzzzzzzzzzzzz  zzzzzzzzzzzzzzzzz  zzzzzzzzzzzzzzzzzzz ', 'second zzzzzzzzzzzzzzzz zzzzzzzzzzzzzzzzzz zzzzzzzzzzzzzzzzzzzz', '       column11               column12                ', 'first  zzzzzzzzzzzzzzzzzzzzz  zzzzzzzzzzzzzzzzzzzzzzz ', 'second zzzzzzzzzzzzzzzzzzzzzz zzzzzzzzzzzzzzzzzzzzzzzz']),
]

# --- printCoefmat() --------------------------------------------------------
COEFMAT_CASES = [
    # R: capture.output(printCoefmat(cbind(Estimate = c(251.405104848485, 10.467285959596), `Std.
    #      Error` = c(6.82459669495491, 1.54578964390598), `t value` = c(36.8380896462844,
    #      6.77148148899918)), digits = 4))
    (lambda: rf.print_coefmat(np.array([[251.405104848485, 6.82459669495491, 36.8380896462844], [10.467285959596, 1.54578964390598, 6.77148148899918]]), None, ["Estimate", "Std. Error", "t value"], digits=4),
     ['     Estimate Std. Error t value', '[1,]  251.405      6.825  36.838', '[2,]   10.467      1.546   6.771']),
    # R: capture.output(printCoefmat(cbind(Estimate = c(1.5, 0.00001, -2), `Std. Error` = c(0.1, 0.2,
    #      0.3), `t value` = c(15, 0.00005, -6.6667)), digits = 4))
    (lambda: rf.print_coefmat(np.array([[1.5, 0.1, 15], [0.00001, 0.2, 0.00005], [-2, 0.3, -6.6667]]), None, ["Estimate", "Std. Error", "t value"], digits=4),
     ['     Estimate Std. Error t value', '[1,]  1.50000    0.10000  15.000', '[2,]  0.00001    0.20000   0.000', '[3,] -2.00000    0.30000  -6.667']),
    # R: capture.output(printCoefmat(cbind(Estimate = c(0, 1.25), `Std. Error` = c(0.5, NA), `t
    #      value` = c(0, NA), `Pr(>|t|)` = c(1, NA))))
    (lambda: rf.print_coefmat(np.array([[0, 0.5, 0, 1], [1.25, np.nan, np.nan, np.nan]]), None, ["Estimate", "Std. Error", "t value", "Pr(>|t|)"]),
     ['     Estimate Std. Error t value Pr(>|t|)', '[1,]     0.00       0.50       0        1', '[2,]     1.25         NA      NA       NA']),
    # R: capture.output(printCoefmat(cbind(Estimate = c(2.1, -0.3, 5), `Std. Error` = c(0.5, 0.4, 1),
    #      `z value` = c(4.2, -0.75, 5), `Pr(>|z|)` = c(2.67e-05, 0.4533, 5.7e-07)), digits = 4))
    (lambda: rf.print_coefmat(np.array([[2.1, 0.5, 4.2, 2.67e-05], [-0.3, 0.4, -0.75, 0.4533], [5, 1, 5, 5.7e-07]]), None, ["Estimate", "Std. Error", "z value", "Pr(>|z|)"], digits=4),
     ['     Estimate Std. Error z value Pr(>|z|)    ', '[1,]      2.1        0.5    4.20 2.67e-05 ***', '[2,]     -0.3        0.4   -0.75    0.453    ', '[3,]      5.0        1.0    5.00 5.70e-07 ***', '---', 'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1']),
    # R: capture.output(printCoefmat(cbind(Estimate = c(2.1, -0.3), `Std. Error` = c(0.5, 0.4), `z
    #      value` = c(4.2, -0.75), `Pr(>|z|)` = c(2.67e-05, 0.4533)), digits = 4, signif.stars =
    #      FALSE))
    (lambda: rf.print_coefmat(np.array([[2.1, 0.5, 4.2, 2.67e-05], [-0.3, 0.4, -0.75, 0.4533]]), None, ["Estimate", "Std. Error", "z value", "Pr(>|z|)"], digits=4, signif_stars=False),
     ['     Estimate Std. Error z value Pr(>|z|)', '[1,]      2.1        0.5    4.20 2.67e-05', '[2,]     -0.3        0.4   -0.75    0.453']),
    # R: capture.output(printCoefmat(cbind(Estimate = c(2.1, -0.3), `Std. Error` = c(0.5, 0.4), `z
    #      value` = c(4.2, -0.75), `Pr(>|z|)` = c(0.2, 0.4533)), digits = 4))
    (lambda: rf.print_coefmat(np.array([[2.1, 0.5, 4.2, 0.2], [-0.3, 0.4, -0.75, 0.4533]]), None, ["Estimate", "Std. Error", "z value", "Pr(>|z|)"], digits=4),
     ['     Estimate Std. Error z value Pr(>|z|)', '[1,]      2.1        0.5    4.20    0.200', '[2,]     -0.3        0.4   -0.75    0.453']),
]

# --- print.anova() ---------------------------------------------------------
ANOVA_CASES = [
    # R: {a <- data.frame(`Sum Sq` = c(20020.5, 526.1, 321.75), `Mean Sq` = c(6673.5, 263.05,
    #      53.625), NumDF = c(3, 2, 6), DenDF = c(45, 10, 45), `F value` = c(37.6857, 1.4853, 0.3028),
    #      `Pr(>F)` = c(2.458e-12, 0.2724, 0.9322), check.names = FALSE, row.names = c("nitro",
    #      "Variety", "nitro:Variety")); class(a) <- c("anova", "data.frame"); attr(a, "heading") <-
    #      "Type III Analysis of Variance Table with Satterthwaite's method"; capture.output(print(a))}
    (lambda: rf.print_anova(np.array([[20020.5, 6673.5, 3, 45, 37.6857, 2.458e-12], [526.1, 263.05, 2, 10, 1.4853, 0.2724], [321.75, 53.625, 6, 45, 0.3028, 0.9322]]), ["nitro", "Variety", "nitro:Variety"], ["Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value", "Pr(>F)"], heading="Type III Analysis of Variance Table with Satterthwaite's method"),
     ["Type III Analysis of Variance Table with Satterthwaite's method", '               Sum Sq Mean Sq NumDF DenDF F value    Pr(>F)    ', 'nitro         20020.5  6673.5     3    45 37.6857 2.458e-12 ***', 'Variety         526.1   263.0     2    10  1.4853    0.2724    ', 'nitro:Variety   321.8    53.6     6    45  0.3028    0.9322    ', '---', 'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1']),
    # R: {a <- data.frame(npar = c(4, 6), AIC = c(1802.079, 1763.939), BIC = c(1814.850, 1783.097),
    #      logLik = c(-897.0393, -875.9697), deviance = c(1794.079, 1751.939), Chisq = c(NA, 42.1393),
    #      Df = c(NA, 2), `Pr(>Chisq)` = c(NA, 7.072e-10), check.names = FALSE, row.names = c("fm2",
    #      "fm1")); class(a) <- c("anova", "data.frame"); attr(a, "heading") <- c("Data:
    #      sleepstudy\nModels:", "fm2: Reaction ~ Days + (1 | Subject)\nfm1: Reaction ~ Days + (Days |
    #      Subject)"); capture.output(print(a))}
    (lambda: rf.print_anova(np.array([[4, 1802.079, 1814.850, -897.0393, 1794.079, np.nan, np.nan, np.nan], [6, 1763.939, 1783.097, -875.9697, 1751.939, 42.1393, 2, 7.072e-10]]), ["fm2", "fm1"], ["npar", "AIC", "BIC", "logLik", "deviance", "Chisq", "Df", "Pr(>Chisq)"], heading=["Data: sleepstudy\nModels:", "fm2: Reaction ~ Days + (1 | Subject)\nfm1: Reaction ~ Days + (Days | Subject)"]),
     ['Data: sleepstudy', 'Models:', 'fm2: Reaction ~ Days + (1 | Subject)', 'fm1: Reaction ~ Days + (Days | Subject)', '    npar    AIC    BIC  logLik deviance  Chisq Df Pr(>Chisq)    ', 'fm2    4 1802.1 1814.8 -897.04   1794.1                         ', 'fm1    6 1763.9 1783.1 -875.97   1751.9 42.139  2  7.072e-10 ***', '---', 'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1']),
]

STRING_CASES = FORMAT_CASES + PVAL_CASES + ABBR_CASES + FORMATC_CASES + TEXT_CASES
STRING_CASES += COEFMAT_CASES + ANOVA_CASES


@pytest.mark.parametrize("call, expected", STRING_CASES)
def test_matches_r_strings(call, expected):
    assert call() == expected


@pytest.mark.parametrize("call, expected", ROUND_CASES)
def test_matches_r_numbers(call, expected):
    got = np.atleast_1d(np.asarray(call(), dtype=float)).tolist()
    assert got == expected  # exact, bit for bit


def test_format_real_info_fixed_vs_scientific():
    # format.info(c(1.5, 10.25, 100), digits = 4) -> 6 2 0
    assert rf.format_real_info([1.5, 10.25, 100], 4) == (6, 2, 0)
    # format.info(123456789) -> 9 0 0 ; format.info(c(123456789, 1e-4)) -> 12 6 1
    assert rf.format_real_info([123456789.0]) == (9, 0, 0)
    assert rf.format_real_info([123456789, 1e-4]) == (12, 6, 1)
    # format.info(1e-300) -> 6 0 2 (three-digit exponent)
    assert rf.format_real_info([1e-300]) == (6, 0, 2)
    # format.info(NA_real_) -> 2 0 0
    assert rf.format_real_info([float("nan")]) == (2, 0, 0)


def test_encode_real_negative_zero_and_specials():
    assert rf.encode_real(-0.0, 4, 1, 0) == " 0.0"
    assert rf.encode_real(float("nan"), 4, 1, 0) == "  NA"
    assert rf.encode_real(float("-inf"), 5, 1, 0) == " -Inf"
    # sprintf("%#9.2e", 12345.678)
    assert rf.encode_real(12345.678, 9, 2, 1) == " 1.23e+04"


def test_print_coefmat_narrow_width_wraps_columns_and_legend():
    # options(width = 40)
    # printCoefmat(cbind(Estimate = c(2.1, -0.3), `Std. Error` = c(0.5, 0.4),
    #                    `z value` = c(4.2, -0.75), `Pr(>|z|)` = c(2.67e-05, 0.4533)), digits = 4)
    x = np.array([[2.1, 0.5, 4.2, 2.67e-05], [-0.3, 0.4, -0.75, 0.4533]])
    got = rf.print_coefmat(x, None, ["Estimate", "Std. Error", "z value", "Pr(>|z|)"],
                           digits=4, width=40)
    assert got == [
        "     Estimate Std. Error z value",
        "[1,]      2.1        0.5    4.20",
        "[2,]     -0.3        0.4   -0.75",
        "     Pr(>|z|)    ",
        "[1,] 2.67e-05 ***",
        "[2,]    0.453    ",
        "---",
        "Signif. codes:  ",
        "  0 \u2018***\u2019 0.001 \u2018**\u2019 0.01 \u2018*\u2019 0.05",
        "  \u2018.\u2019 0.1 \u2018 \u2019 1",
    ]


def test_nan_can_print_as_nan():
    # format(c(NaN, 1)) ; format(round(c(1, NaN, NaN, 1), 2), nsmall = 2)
    assert rf.format_num([float("nan"), 1], na_string="NaN") == ["NaN", "  1"]
    assert rf.format_num([1, float("nan"), float("nan"), 1], nsmall=2, na_string="NaN") == [
        "1.00", " NaN", " NaN", "1.00"]


def test_signif_stars_and_legend():
    # symnum(c(0, 0.001, 0.0011, 0.01, 0.049, 0.05, 0.09, 0.1, 0.5, 1, NA), corr = FALSE,
    #        na = FALSE, cutpoints = c(0, .001, .01, .05, .1, 1),
    #        symbols = c("***", "**", "*", ".", " "))
    pv = [0, 0.001, 0.0011, 0.01, 0.049, 0.05, 0.09, 0.1, 0.5, 1, float("nan")]
    assert rf.symnum_stars(pv) == ["***", "***", "**", "**", "*", "*", ".", ".", " ", " ", ""]
    assert rf.stars_legend() == "0 \u2018***\u2019 0.001 \u2018**\u2019 0.01 \u2018*\u2019 0.05 \u2018.\u2019 0.1 \u2018 \u2019 1"
    assert rf.stars_legend(utf8=False) == "0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"


def test_format_str_justify():
    # format(c("a", "bbb")); format(c("a", "bbb"), justify = "right")
    assert rf.format_str(["a", "bbb"]) == ["a  ", "bbb"]
    assert rf.format_str(["a", "bbb"], justify="right") == ["  a", "bbb"]
    # format(c("a", "bbbb"), justify = "centre")
    assert rf.format_str(["a", "bbbb"], justify="centre") == [" a  ", "bbbb"]


def test_r_pow_di():
    assert rm.r_pow_di(10.0, 22) == 1e22
    assert rm.r_pow_di(10.0, -3) == 1 / 1000.0
    assert math.isnan(rm.r_pow_di(float("nan"), 2))


def test_round_is_vectorised_and_keeps_shape():
    out = rm.r_round(np.array([[0.125, 2.675], [-1.005, 1e300]]), 2)
    assert out.shape == (2, 2)
    # round(c(0.125, -1.005, 2.675, 1e300), 2) -> 0.12 -1 2.67 1e300 (R >= 4.0.0)
    # (column-major order of the 2 x 2 input)
    assert out.ravel(order="F").tolist() == [0.12, -1.0, 2.67, 1e300]


def test_round_of_arrays_is_rounding_each_value():
    # R: round(c(0.5, 1.5, 2.5, -0.5, 0.15, 0.25, 1234.5678, Inf, NaN, 0))
    #    -> 0 2 2 -0 0 0 1235 Inf NaN 0
    out = rm.r_round(np.array([0.5, 1.5, 2.5, -0.5, 0.15, 0.25, 1234.5678, np.inf, np.nan, 0.0]))
    np.testing.assert_array_equal(out, [0, 2, 2, -0.0, 0, 0, 1235, np.inf, np.nan, 0])
    assert math.copysign(1.0, out[3]) == -1.0
    # R: round(c(1234.5678, -1250, 0.15, Inf, 0, 5e-324), -2) -> 1200 -1200 0 Inf 0 0
    out = rm.r_round(np.array([1234.5678, -1250, 0.15, np.inf, 0, 5e-324]), -2)
    np.testing.assert_array_equal(out, [1200, -1200, 0, np.inf, 0, 0])
    # R: round(c(0.15, 0.45, 2.675, -1.005), 1) -> 0.1 0.4 2.7 -1 (each one as the scalar call gives)
    x = np.array([0.15, 0.45, 2.675, -1.005])
    assert rm.r_round(x, 1).tolist() == [0.1, 0.4, 2.7, -1.0] == [rm.r_round(v, 1) for v in x]
    # digits NaN gives NaN, as R's x + digits
    assert np.isnan(rm.r_round(np.array([1.0, 2.0]), float("nan"))).all()
