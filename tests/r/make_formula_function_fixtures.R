#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## make_formula_function_fixtures.R -- lme4 references for the R functions
## that formulas may call (mixedmodels.formula.transforms)
##
## Run from the repository root:
##
##     Rscript tests/r/make_formula_function_fixtures.R
##
## Reads tests/fixtures/formula_data.csv and formula_data_na.csv (synthetic,
## written once by Python with a fixed seed; x, z numeric, A, B strings read as
## factors, b logical, g the grouping factor; `sub` is formula_data.csv without
## the rows where A is "apple" and B is "lvl 1") and writes
## tests/fixtures/formula_functions.json: for each case, lmer(FORMULA, data = d)
## (REML) -- coefficient names, fixef, theta, sigma, the REML criterion, nobs,
## print(summary(m)) and the fit's warnings -- and, for most cases,
## predict(m, newdata = nd) and predict(m, newdata = nd, re.form = NA) on the
## small data frame `nd` stored in the file (x inside and outside the range of
## the data, and missing; A without the level "apple"), or the error R gives.
## Cases whose fit fails in R record `fit_error` instead. `tight` holds the
## same numbers for a refit with tight optimizer tolerances (lme4's default
## nloptwrap stops up to about 1e-8 above the optimum on flat or singular
## fits, which moves the 6th significant digit of some estimates).
## Also `bases`: the ns/bs bases on the data and on nd$x (columns), and
## `round`: R's round(v, digits) on a set of awkward values.
## R 4.2.2 (locale C.UTF-8), lme4 1.1.31, splines 4.2.2, jsonlite 1.8.4.
## ---------------------------------------------------------------------------

suppressPackageStartupMessages({
  library(lme4)
  library(splines)
  library(jsonlite)
})
if (!file.exists(file.path("tests", "r", "make_formula_function_fixtures.R")))
  stop("run this script from the repository root")
options(width = 80, digits = 7)
source(file.path("tests", "r", "json_helpers.R"))  # fmt_num, encode_doubles, arr

OUT <- file.path("tests", "fixtures", "formula_functions.json")
full <- read.csv(file.path("tests", "fixtures", "formula_data.csv"), stringsAsFactors = TRUE)
withna <- read.csv(file.path("tests", "fixtures", "formula_data_na.csv"), stringsAsFactors = TRUE)
## without the rows of one combination of A and B (its level of interaction(A, B) is then unused)
sub <- full[!(full$A == "apple" & full$B == "lvl 1"), ]

## new data: factors keep the levels of the data (as a subset of the data frame would)
nd <- data.frame(x = c(-1.5, -0.8873, 0.5, 2.1, 3.3, 4.8328, 5.5, NA),
                 z = c(0.3, -2.8, 1.1, 0, -0.5, 2.9297, 3.5, 0.2),
                 A = factor(c("cherry", "Banana", "cherry", "Banana", "cherry", "Banana", "cherry", "Banana"),
                            levels = levels(full$A)),
                 B = factor(c("lvl 1", "lvl_2", "lvl-3", "lvl.4", "lvl 1", "lvl_2", "lvl-3", "lvl.4"),
                            levels = levels(full$B)),
                 b = c(TRUE, FALSE, TRUE, FALSE, FALSE, TRUE, TRUE, FALSE),
                 g = c(1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L))

cases <- list(
  ## unary !
  list(formula = "y ~ I(!b) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ (!b) + x + (1 | g)", data = "withna", predict = TRUE),
  list(formula = "y ~ I(!x > 2) + z + (1 | g)", data = "full", predict = TRUE),
  ## pmin, pmax, round, sign, as.integer, is.na
  list(formula = "y ~ pmin(x, 2) + pmax(z, 0) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ I(pmax(x, z, 1)) + pmin(x, z, na.rm = TRUE) + (1 | g)", data = "withna", predict = TRUE),
  list(formula = "y ~ round(x) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ round(x, 1) + round(z, 3) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ sign(z) + as.integer(x) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ as.integer(A) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ is.na(x) + z + (1 | g)", data = "withna", predict = TRUE),
  ## mean, sd, median: one number over all rows of the data (of nd on new data)
  list(formula = "y ~ I(x - mean(x)) + I(z/sd(z)) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ I(x > median(x)) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ I(x - mean(x, na.rm = TRUE)) + (1 | g)", data = "withna", predict = TRUE),
  list(formula = "y ~ I(z - mean(x)) + (1 | g)", data = "withna", predict = FALSE),
  ## factors
  list(formula = "y ~ factor(A, levels = c(\"cherry\", \"apple\", \"Banana\")) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ factor(A, levels = c(\"cherry\", \"apple\")) + x + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ factor(B, labels = c(\"one\", \"two\", \"three\", \"four\")) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ factor(g > 5, labels = c(\"low\", \"high\")) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ factor(B, labels = \"b\") + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ ordered(B) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ ordered(A, levels = c(\"cherry\", \"apple\", \"Banana\")) + x + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ factor(B, ordered = TRUE) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ relevel(A, \"cherry\") + x + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ relevel(B, ref = \"lvl_2\") * x + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ relevel(A, 2) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ interaction(A, B) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ interaction(A, b, sep = \"_\", lex.order = TRUE) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ interaction(A, B) + (1 | g)", data = "sub", predict = TRUE),
  list(formula = "y ~ ordered(B, levels = c(\"lvl 1\", \"lvl_2\", \"lvl-3\", \"lvl.4\", \"lvl 5\")) + (1 | g)",
       data = "full", predict = TRUE),
  list(formula = "y ~ cut(x, c(-1, 1, 2, 3, 10, 20)) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ cut(x, 3) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ cut(x, breaks = c(-1, 1, 2, 3, 5)) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ cut(x, c(-Inf, 1, 2.5, Inf), right = FALSE) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ cut(x, 4, include.lowest = TRUE, labels = c(\"q1\", \"q2\", \"q3\", \"q4\")) + (1 | g)",
       data = "full", predict = TRUE),
  list(formula = "y ~ cut(x, 3, labels = FALSE) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ cut(z, 5, dig.lab = 2) + (1 | g)", data = "full", predict = FALSE),
  list(formula = "y ~ cut(x, breaks = c(-0.8873, 1, 4.8328), include.lowest = TRUE) + (1 | g)", data = "full",
       predict = TRUE),
  list(formula = "y ~ cut(z, c(-3, -1, 0, 1, 3), ordered_result = TRUE) + (1 | g)", data = "full", predict = TRUE),
  ## splines: stateful (the training knots on new data)
  list(formula = "y ~ ns(x, df = 3) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ ns(x, 3) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ ns(x, knots = c(1.5, 2.5)) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ bs(x, df = 4) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ bs(x, degree = 2, df = 5) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ 0 + ns(x, df = 3, intercept = TRUE) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ bs(x, df = 5, intercept = TRUE) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ ns(x, df = 3, Boundary.knots = c(0, 4)) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ bs(x, knots = 2, Boundary.knots = c(-1, 4)) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ splines::ns(x, 3) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ splines::bs(x, df = 3) + A + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ stats::poly(x, 2) + base::log(x + 2) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ A * ns(x, df = 2) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ ns(x, df = 3) + b + (1 | g)", data = "withna", predict = TRUE),
  list(formula = "y ~ x + (ns(z, df = 2) | g)", data = "full", predict = TRUE),
  ## scale with numbers, nested and namespaced scale, poly of several variables
  list(formula = "y ~ scale(x, center = 2, scale = 3) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ scale(x, center = 2) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ scale(x, center = FALSE, scale = 2) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ I(scale(x)^2) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ base::scale(z) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ poly(x, z, degree = 2) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ poly(x, z) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ poly(x, z, degree = 2, raw = TRUE) + (1 | g)", data = "full", predict = TRUE),
  list(formula = "y ~ round(x, 3) + (1 | g)", data = "full", predict = FALSE)
)

## Evaluate `expr`, collecting warnings (and messages) instead of printing them.
collect <- function(expr) {
  msgs <- character(0)
  value <- withCallingHandlers(expr,
    warning = function(w) { msgs <<- c(msgs, conditionMessage(w)); invokeRestart("muffleWarning") },
    message = function(m) { msgs <<- c(msgs, trimws(conditionMessage(m))); invokeRestart("muffleMessage") })
  list(value = value, messages = msgs)
}

TIGHT <- lmerControl(optimizer = "nloptwrap", optCtrl = list(ftol_abs = 1e-14, xtol_abs = 1e-12, ftol_rel = 1e-15,
                                                          xtol_rel = 1e-12, maxeval = 1e5))
numbers <- function(m) {
  res <- list(fixef = I(as.double(fixef(m))), theta = I(as.double(getME(m, "theta"))), sigma = sigma(m),
              objective = if (isREML(m)) REMLcrit(m) else deviance(m))
  p <- tryCatch(suppressWarnings(list(all = I(as.double(predict(m, newdata = nd))),
                                      fixed = I(as.double(predict(m, newdata = nd, re.form = NA))))),
                error = function(e) NULL)
  if (!is.null(p)) res$predictions <- p
  res
}

out <- lapply(cases, function(cs) {
  d <- get(cs$data)
  ## m <- lmer(FORMULA, data = d)
  fit <- tryCatch(collect(lmer(as.formula(cs$formula), data = d)), error = function(e) e)
  if (inherits(fit, "error"))
    return(c(cs, list(fit_error = conditionMessage(fit))))
  m <- fit$value
  res <- c(cs, list(coef_names = arr(names(fixef(m))), fixef = I(as.double(fixef(m))),
                    theta = I(as.double(getME(m, "theta"))), sigma = sigma(m),
                    objective = if (isREML(m)) REMLcrit(m) else deviance(m), nobs = nobs(m),
                    reml = isREML(m), messages = arr(fit$messages),
                    summary_text = paste(capture.output(print(summary(m))), collapse = "\n")))
  if (isTRUE(cs$predict)) {
    ## predict(m, newdata = nd); predict(m, newdata = nd, re.form = NA)
    p <- tryCatch(suppressWarnings(list(all = predict(m, newdata = nd),
                                        fixed = predict(m, newdata = nd, re.form = NA))),
                  error = function(e) e)
    if (inherits(p, "error")) res$predict_error <- conditionMessage(p)
    else res$predictions <- list(all = I(as.double(p$all)), fixed = I(as.double(p$fixed)))
  }
  ## m_tight <- lmer(FORMULA, data = d, control = TIGHT)
  res$tight <- numbers(suppressWarnings(suppressMessages(lmer(as.formula(cs$formula), data = d,
                                                              control = TIGHT))))
  res
})

## The spline bases themselves: b <- with(full, EXPR) and predict(b, nd$x) (or nd$z) (R's predict.ns /
## predict.bs, which makepredictcall arranges on new data), to compare to 1e-10.
basis_exprs <- c("ns(x, df = 3)", "ns(x, 3)", "ns(x, knots = c(1.5, 2.5))", "ns(x, df = 4, intercept = TRUE)",
                 "ns(x, df = 3, Boundary.knots = c(0, 4))", "ns(x)", "ns(z, df = 5)", "bs(x, df = 4)",
                 "bs(x, degree = 2, df = 5)", "bs(x, df = 5, intercept = TRUE)",
                 "bs(x, knots = 2, Boundary.knots = c(-1, 4))", "bs(x, degree = 1, knots = c(1, 2, 3))",
                 "bs(z, df = 6, degree = 4)", "splines::ns(x, 3)")
bases <- lapply(basis_exprs, function(e) {
  b <- suppressWarnings(eval(parse(text = e)[[1L]], full))
  list(expr = e, basis = lapply(seq_len(ncol(b)), function(j) I(as.double(b[, j]))),
       knots = I(as.double(attr(b, "knots"))), boundary = I(as.double(attr(b, "Boundary.knots"))),
       new = lapply(seq_len(ncol(b)), function(j) {
         newx <- nd[[all.vars(parse(text = e)[[1L]])[1L]]]
         I(as.double(suppressWarnings(predict(b, newx))[, j]))
       }))
})

round_values <- c(0.5, 1.5, 2.5, -0.5, -2.5, 0.15, 0.25, 0.35, 0.45, -0.15, 2.675, 1.005, 123.456, 5.5e-8,
                  1234.5678, 0.125, 0.375, -0.0076)
round_digits <- c(0, 1, 2, 3, -1)
res <- list(generated_by = "tests/r/make_formula_function_fixtures.R",
            versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                            splines = as.character(packageVersion("splines"))),
            newdata = list(x = I(as.double(nd$x)), z = I(as.double(nd$z)), A = arr(as.character(nd$A)),
                           B = arr(as.character(nd$B)), b = arr(nd$b), g = arr(nd$g)),
            cases = out,
            bases = bases,
            ## round(round_values, digits) for each digits
            round = list(values = I(round_values), digits = I(round_digits),
                         results = lapply(round_digits, function(k) I(round(round_values, k)))))
writeLines(jsonlite::toJSON(encode_doubles(res), auto_unbox = TRUE, pretty = TRUE, null = "null",
                            na = "null", json_verbatim = TRUE, digits = NA), OUT)
cat("wrote", OUT, "\n")
