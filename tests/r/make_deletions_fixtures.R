#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## make_deletions_fixtures.R -- lmerTest references for ranova() and drop1()
##
## Run from the repository root (after make_fixtures.R has exported the data):
##
##     Rscript tests/r/make_deletions_fixtures.R
##
## Writes tests/fixtures/deletions.json: for each model, lmerTest's
## ranova(m) and ranova(m, reduce.terms = FALSE) (row names, the formula of
## every reduced model, npar, logLik, AIC, LRT, Df, p-value, printed text) and
## drop1(m, ddf = "Satterthwaite") / drop1(m, ddf = "Kenward-Roger") (values,
## printed text). R 4.2.2, lme4 1.1.31, lmerTest 3.1.3, pbkrtest 0.5.2.
##
## Every model is fitted with a tight optimizer control, TIGHT below (lme4's
## default BOBYQA stops ~1e-5 short of the optimum on several of these, which
## moves the fifth digit of an F statistic); ranova() refits its reduced models
## with update(), which keeps that control.
## ---------------------------------------------------------------------------

suppressPackageStartupMessages({
  library(lmerTest)
  library(jsonlite)
})
if (!file.exists(file.path("tests", "r", "make_deletions_fixtures.R")))
  stop("run this script from the repository root")
options(width = 80, digits = 7)

DATA_DIR <- file.path("mixedmodels", "datasets", "data")
OUT <- file.path("tests", "fixtures", "deletions.json")
source(file.path("tests", "r", "json_helpers.R"))  # fmt_num, encode_doubles, arr, read_dataset

for (nm in c("sleepstudy", "Orthodont", "Penicillin", "Pastes", "Oats", "Dyestuff"))
  assign(nm, read_dataset(nm), envir = globalenv())

printed <- function(x) paste(capture.output(print(x)), collapse = "\n")
table_json <- function(tab) {
  out <- list(rows = arr(rownames(tab)), columns = arr(colnames(tab)),
              values = lapply(colnames(tab), function(cn) I(as.double(tab[[cn]]))),
              text = printed(tab))
  f <- attr(tab, "formulae")
  if (!is.null(f)) out$formulae <- arr(vapply(f, function(x) paste(deparse(x, width.cutoff = 500L), collapse = " "), ""))
  out
}

cases <- list(
  list(id = "sleepstudy_slope", data = "sleepstudy", reml = TRUE,
       formula = "Reaction ~ Days + (Days | Subject)"),
  list(id = "sleepstudy_uncorr_ml", data = "sleepstudy", reml = FALSE,
       formula = "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)"),
  list(id = "sleepstudy_double_bar", data = "sleepstudy", reml = TRUE,
       formula = "Reaction ~ Days + (Days || Subject)"),
  list(id = "oats_nested", data = "Oats", reml = TRUE,
       formula = "yield ~ nitro * Variety + (1 | Block/Variety)"),
  list(id = "penicillin_crossed", data = "Penicillin", reml = TRUE,
       formula = "diameter ~ 1 + (1 | plate) + (1 | sample)"),
  list(id = "orthodont_slope_sex", data = "Orthodont", reml = TRUE,
       formula = "distance ~ age * Sex + (age | Subject)"),
  list(id = "pastes_nested_ml", data = "Pastes", reml = FALSE,
       formula = "strength ~ 1 + (1 | batch/cask)"),
  list(id = "dyestuff_only_term", data = "Dyestuff", reml = TRUE,
       formula = "Yield ~ 1 + (1 | Batch)"),
  ## an aliased column (I(2 * nitro)): lmerTest's drop1 compares model matrices with and without the term
  list(id = "oats_aliased", data = "Oats", reml = TRUE,
       formula = "yield ~ nitro + I(2 * nitro) + Variety + (1 | Block/Variety)")
)

TIGHT <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5))
models <- lapply(cases, function(cs) {
  ## lmer(FORMULA, data = DATA, REML = REML, control = TIGHT)
  m <- suppressMessages(eval(bquote(lmer(.(as.formula(cs$formula)), data = .(as.name(cs$data)),
                                         REML = .(cs$reml), control = TIGHT))))
  out <- c(cs, list(
    ## ranova(m)
    ranova = table_json(ranova(m)),
    ## ranova(m, reduce.terms = FALSE)
    ranova_remove = table_json(ranova(m, reduce.terms = FALSE))))
  if (length(attr(terms(m), "term.labels"))) {
    ## drop1(m) (Satterthwaite) and drop1(m, ddf = "Kenward-Roger")
    out$drop1 <- table_json(drop1(m))
    if (cs$reml) out$drop1_kr <- table_json(drop1(m, ddf = "Kenward-Roger"))
  }
  out
})

res <- list(
  generated_by = "tests/r/make_deletions_fixtures.R",
  versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                  lmerTest = as.character(packageVersion("lmerTest")),
                  pbkrtest = as.character(packageVersion("pbkrtest"))),
  models = models)
writeLines(jsonlite::toJSON(encode_doubles(res), auto_unbox = TRUE, pretty = TRUE, null = "null",
                            na = "null", json_verbatim = TRUE, digits = NA), OUT)
cat("wrote", OUT, "\n")
