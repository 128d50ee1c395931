#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## make_formula_fixtures.R -- lme4 references for formula details
##
## Run from the repository root:
##
##     Rscript tests/r/make_formula_fixtures.R
##
## Reads tests/fixtures/formula_data.csv and formula_data_na.csv (synthetic,
## written once by Python with a fixed seed; b is logical, A and B are strings
## whose levels R sorts with ICU collation) and writes
## tests/fixtures/formula_cases.json: for each case, lmer(FORMULA, data = d)
## (REML) -- coefficient names, fixef, theta, sigma, the criterion, nobs, isREML
## and print(summary(m)) -- and `sorted`, R's sort() of a set of strings with
## punctuation, digits, case and an accent.
## R 4.2.2 (ICU collation, locale C.UTF-8), lme4 1.1.31.
## ---------------------------------------------------------------------------

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})
if (!file.exists(file.path("tests", "r", "make_formula_fixtures.R")))
  stop("run this script from the repository root")
options(width = 80, digits = 7)
source(file.path("tests", "r", "json_helpers.R"))  # fmt_num, encode_doubles, arr

OUT <- file.path("tests", "fixtures", "formula_cases.json")
full <- read.csv(file.path("tests", "fixtures", "formula_data.csv"), stringsAsFactors = TRUE)
withna <- read.csv(file.path("tests", "fixtures", "formula_data_na.csv"), stringsAsFactors = TRUE)

cases <- list(
  list(formula = "y ~ B + (1 | g)", data = "full", why = "ICU order of levels with _ - . and space"),
  list(formula = "y ~ A * B + (1 | g)", data = "full", why = "ICU order, case of the first letter"),
  list(formula = "y ~ I(x > 2 & z < 0) + (1 | g)", data = "withna", why = "NA & FALSE is FALSE"),
  list(formula = "y ~ I(b & x > 2) + (1 | g)", data = "withna", why = "NA & FALSE is FALSE"),
  list(formula = "y ~ I(b == TRUE) + (1 | g)", data = "full", why = "a logical compared with TRUE"),
  list(formula = "y ~ I(b != FALSE) + x + (1 | g)", data = "full", why = "a logical compared with FALSE"),
  list(formula = "y ~ I(b == 1) + (1 | g)", data = "full", why = "a logical compared with a number"),
  list(formula = "y ~ as.numeric(b) + (1 | g)", data = "full", why = "as.numeric of a logical is 0/1"),
  list(formula = "y ~ as.numeric(x > 2) + (1 | g)", data = "full", why = "as.numeric of a comparison"),
  list(formula = "y ~ poly(x, 2, raw = TRUE) + (1 | g)", data = "full", why = "raw polynomials"),
  list(formula = "y ~ poly(x, degree = 3, raw = TRUE) + (1 | g)", data = "full", why = "raw, named degree"),
  list(formula = "y ~ poly(x, 1) + (1 | g)", data = "full", why = "a one-column poly has no suffix"),
  list(formula = "y ~ scale(x, center = FALSE) + (1 | g)", data = "full", why = "FALSE deparsed bare"),
  list(formula = "y ~ I(x %% 1) + I(x %/% 1) + (1 | g)", data = "full", why = "%% and %/% deparsed"),
  list(formula = "y ~ x + (1 | A/B/b)", data = "full", why = "three-level nesting: b:(B:A)"),
  list(formula = "y ~ 0 + (1 | g)", data = "full", why = "no fixed effects: an ML fit"),
  list(formula = "y ~ I(x == 100) + x + (1 | g)", data = "full", why = "an all-FALSE logical: aliased"),
  list(formula = "y ~ I(2.5e6 * x) + (1 | g)", data = "full", why = "very different scales"),
  list(formula = "y ~ 0 + A + B + (1 | g)", data = "full",
       why = "no intercept: all levels of the first factor only, contrasts for the others"),
  list(formula = "y ~ 0 + x + B + A + (1 | g)", data = "full", why = "no intercept, a covariate first"),
  list(formula = "y ~ 0 + A:B + (1 | g)", data = "full", why = "no intercept, an interaction alone")
)

out <- lapply(cases, function(cs) {
  d <- get(cs$data)
  ## m <- lmer(FORMULA, data = d)
  m <- suppressWarnings(suppressMessages(lmer(as.formula(cs$formula), data = d)))
  c(cs, list(coef_names = arr(names(fixef(m))), fixef = I(as.double(fixef(m))),
             theta = I(as.double(getME(m, "theta"))), sigma = sigma(m),
             objective = if (isREML(m)) REMLcrit(m) else deviance(m), nobs = nobs(m),
             reml = isREML(m),
             summary_text = paste(capture.output(print(summary(m))), collapse = "\n")))
})

strings <- c("a", "A", "b", "B", "_a", "-a", ".a", " a", "a b", "a_b", "a-b", "a.b", "ab", "aB", "Ab",
             "AB", "a1", "a10", "a2", "1a", "10", "9", "#x", "(x)", "x/y", "x:y", "x+y", "\u00e9", "e",
             "f", "Z", "z", "a,b", "a'b", "a&b", "~a", "a*b", "lvl 1", "lvl_2", "lvl-3", "lvl.4",
             "Banana", "apple", "cherry", "x10", "X1", "x2", "x9", "\u00c9cole", "ecole", "Ecole")
res <- list(generated_by = "tests/r/make_formula_fixtures.R",
            versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                            collate = Sys.getlocale("LC_COLLATE"), icu = capabilities("ICU")),
            cases = out,
            ## sort(strings)
            sorted = arr(sort(strings)))
writeLines(jsonlite::toJSON(encode_doubles(res), auto_unbox = TRUE, pretty = TRUE, null = "null",
                            na = "null", json_verbatim = TRUE, digits = NA), OUT)
cat("wrote", OUT, "\n")
