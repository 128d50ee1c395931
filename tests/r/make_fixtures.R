#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## make_fixtures.R -- reference data and R reference results for `mixedmodels`
##
## Run from the repository root:
##
##     Rscript tests/r/make_fixtures.R
##
## Generated with (the versions are also written into every fixture JSON):
##     R        4.2.2 Patched (2022-11-10 r83330)
##     lme4     1.1.31
##     lmerTest 3.1.3
##     pbkrtest 0.5.2
##     nlme     3.1.162
##     Matrix   1.5.3
##     jsonlite 1.8.4
##
## Writes
##   mixedmodels/datasets/data/<name>.csv   sleepstudy, Dyestuff, Dyestuff2,
##                                          Penicillin, Pastes (lme4),
##                                          Oats, Orthodont (nlme)
##   mixedmodels/datasets/data/levels.json  {dataset: {column: [levels]}}
##   benchmarks/data/InstEval.csv.gz        lme4::InstEval
##   tests/fixtures/lme4_models.json        lme4::lmer fits
##   tests/fixtures/lmertest.json           lmerTest / pbkrtest inference
##   tests/fixtures/aov.json                classical aov() with Error strata
##
## Every model is fitted on the data as RE-READ from the exported CSV files
## (factors rebuilt, unordered, with the recorded level order), held in global
## variables named like the datasets, so that the fixtures describe exactly
## what the Python side loads and `summary()` prints e.g. "Data: sleepstudy".
## ---------------------------------------------------------------------------

suppressPackageStartupMessages({
  library(lme4)        # attached: `lmer` in the recorded calls is lme4::lmer
  library(jsonlite)
})
## lmerTest, pbkrtest and nlme are used through `::` only (not attached), so
## that `lmer` stays lme4's and nlme does not mask lme4 functions.
stopifnot(requireNamespace("lmerTest", quietly = TRUE),
          requireNamespace("pbkrtest", quietly = TRUE),
          requireNamespace("nlme", quietly = TRUE))

if (!file.exists(file.path("tests", "r", "make_fixtures.R")))
  stop("run this script from the repository root: Rscript tests/r/make_fixtures.R")

## Fixed printing options so that the captured text is reproducible.
options(width = 80, digits = 7, scipen = 0, OutDec = ".")

t_start <- proc.time()[["elapsed"]]
say <- function(...) cat(sprintf("[%6.1fs] ", proc.time()[["elapsed"]] - t_start),
                         ..., "\n", sep = "")

DATA_DIR  <- file.path("mixedmodels", "datasets", "data")
BENCH_DIR <- file.path("benchmarks", "data")
FIX_DIR   <- file.path("tests", "fixtures")
for (d in c(DATA_DIR, BENCH_DIR, FIX_DIR)) dir.create(d, recursive = TRUE, showWarnings = FALSE)

## ===========================================================================
## Helpers
## ===========================================================================

pkg_version <- function(p) as.character(utils::packageVersion(p))

## Versions recorded in every fixture file.
version_info <- function() {
  list(r_version        = R.version.string,
       lme4_version     = pkg_version("lme4"),
       lmerTest_version = pkg_version("lmerTest"),
       pbkrtest_version = pkg_version("pbkrtest"),
       nlme_version     = pkg_version("nlme"),
       Matrix_version   = pkg_version("Matrix"),
       jsonlite_version = pkg_version("jsonlite"),
       locale_ctype     = Sys.getlocale("LC_CTYPE"),
       print_options    = list(width = getOption("width"), digits = getOption("digits")),
       generated_by     = "Rscript tests/r/make_fixtures.R")
}

source(file.path("tests", "r", "json_helpers.R"))  # fmt_num, encode_doubles, arr

write_fixture <- function(x, path) {
  jsonlite::write_json(encode_doubles(x), path, digits = NA, auto_unbox = TRUE,
                       pretty = TRUE, null = "null", na = "null",
                       json_verbatim = TRUE)
  ## check that the file parses
  invisible(jsonlite::read_json(path))
  say("wrote ", path, " (", file.size(path), " bytes)")
}

## Matrix -> list of rows (each row always an array).
rows_of <- function(M) {
  M <- as.matrix(M)
  lapply(seq_len(nrow(M)), function(i) arr(M[i, ]))
}

## Table (matrix / data.frame / anova) -> {rows, columns, values}.
## Numeric columns only; NA/NaN -> null.
table_json <- function(tab) {
  df <- as.data.frame(tab, check.names = FALSE, stringsAsFactors = FALSE)
  M <- matrix(NA_real_, nrow(df), ncol(df))
  for (j in seq_len(ncol(df))) M[, j] <- as.numeric(df[[j]])
  list(rows = arr(trimws(rownames(df))), columns = arr(colnames(df)),
       values = rows_of(M))
}

## Captured printed output of an object.
print_text <- function(x) paste(utils::capture.output(print(x)), collapse = "\n")

## Evaluate `expr`, collecting (and muffling) warnings and messages.
with_conditions <- function(expr) {
  warns <- character(0); msgs <- character(0)
  value <- withCallingHandlers(expr,
    warning = function(w) {
      warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning")
    },
    message = function(m) {
      msgs <<- c(msgs, trimws(conditionMessage(m))); invokeRestart("muffleMessage")
    })
  list(value = value, warnings = warns, messages = msgs)
}

## Evaluate an R call given as text in the global environment (where the
## re-read datasets live), collecting warnings/messages.
eval_text <- function(txt, envir = globalenv())
  with_conditions(eval(parse(text = txt)[[1L]], envir = envir))

## Convert a data frame read back from CSV / a source data frame to a plain
## data.frame: factors rebuilt (unordered) with the given levels.
## `levels_map` is {column: levels}.
apply_levels <- function(df, levels_map) {
  for (col in names(levels_map))
    df[[col]] <- factor(as.character(df[[col]]), levels = levels_map[[col]])
  df
}

## ===========================================================================
## 1. Datasets
## ===========================================================================

## Plain data.frame from a (possibly groupedData) data set: drop all extra
## classes/attributes, keep factor level orders (ordered factors keep their
## level order but become plain factors).
plain_df <- function(x) {
  x <- as.data.frame(x)
  out <- lapply(x, function(col) {
    if (is.factor(col)) factor(as.character(col), levels = levels(col))
    else { a <- as.vector(col); attributes(a) <- NULL; a }
  })
  data.frame(out, check.names = FALSE, stringsAsFactors = FALSE)
}

## Source datasets (the originals, for the sanity check).
orig <- list(
  sleepstudy = lme4::sleepstudy,
  Dyestuff   = lme4::Dyestuff,
  Dyestuff2  = lme4::Dyestuff2,
  Penicillin = lme4::Penicillin,
  Pastes     = lme4::Pastes,
  Oats       = nlme::Oats,
  Orthodont  = nlme::Orthodont
)

factor_levels <- function(df) {
  cols <- names(df)[vapply(df, is.factor, logical(1))]
  stats::setNames(lapply(cols, function(cl) arr(levels(df[[cl]]))), cols)
}

levels_all <- list()
for (nm in names(orig)) {
  df <- plain_df(orig[[nm]])
  path <- file.path(DATA_DIR, paste0(nm, ".csv"))
  ## write.csv(<plain data.frame>, "mixedmodels/datasets/data/<nm>.csv", row.names = FALSE)
  utils::write.csv(df, path, row.names = FALSE)
  levels_all[[nm]] <- factor_levels(df)
  say("wrote ", path, " (", nrow(df), " rows, ", file.size(path), " bytes)")
}

## InstEval (benchmarks only): gzip-compressed CSV.
inst <- plain_df(lme4::InstEval)
inst_path <- file.path(BENCH_DIR, "InstEval.csv.gz")
con <- gzfile(inst_path, open = "w")
utils::write.csv(inst, con, row.names = FALSE)
close(con)
levels_all[["InstEval"]] <- factor_levels(inst)
say("wrote ", inst_path, " (", nrow(inst), " rows, ", file.size(inst_path), " bytes)")

## levels.json keeps exactly the {dataset: {column: [levels]}} schema (the
## versions are in the README and in the fixture files).
levels_path <- file.path(DATA_DIR, "levels.json")
write_fixture(levels_all, levels_path)

## ---- Re-read every CSV and rebuild the factors from levels.json -----------
levels_json <- jsonlite::read_json(levels_path, simplifyVector = TRUE)

read_dataset <- function(path, lv) {
  ## factor columns are read as character so e.g. "308" or "01" stay strings
  header <- names(utils::read.csv(path, nrows = 1L, check.names = FALSE))
  cc <- ifelse(header %in% names(lv), "character", NA_character_)
  df <- utils::read.csv(path, colClasses = cc, check.names = FALSE,
                        stringsAsFactors = FALSE)
  apply_levels(df, lv)
}

for (nm in names(orig)) {
  df <- read_dataset(file.path(DATA_DIR, paste0(nm, ".csv")), levels_json[[nm]])
  ## the re-read data must equal the plain source data exactly
  ref <- plain_df(orig[[nm]])
  stopifnot(identical(names(df), names(ref)), nrow(df) == nrow(ref))
  for (cl in names(df)) {
    if (is.factor(ref[[cl]])) stopifnot(identical(df[[cl]], ref[[cl]]))
    else stopifnot(isTRUE(all.equal(as.numeric(df[[cl]]), as.numeric(ref[[cl]]),
                                    tolerance = 1e-14)))
  }
  assign(nm, df, envir = globalenv())   # e.g. `sleepstudy`, `Oats`, ...
}
InstEval_reread <- read_dataset(inst_path, levels_json[["InstEval"]])
stopifnot(nrow(InstEval_reread) == nrow(inst),
          all(vapply(names(inst), function(cl)
            isTRUE(all.equal(InstEval_reread[[cl]], inst[[cl]], check.attributes = FALSE)),
            logical(1))))
rm(InstEval_reread)
say("re-read datasets OK")

## ===========================================================================
## 2. lme4 model fits  ->  tests/fixtures/lme4_models.json
## ===========================================================================

## id, dataset, formula, REML
model_specs <- list(
  list("sleepstudy_slope_reml",  "sleepstudy", "Reaction ~ Days + (Days | Subject)", TRUE),
  list("sleepstudy_slope_ml",    "sleepstudy", "Reaction ~ Days + (Days | Subject)", FALSE),
  list("sleepstudy_uncorr_reml", "sleepstudy", "Reaction ~ Days + (Days || Subject)", TRUE),
  list("sleepstudy_int_reml",    "sleepstudy", "Reaction ~ Days + (1 | Subject)", TRUE),
  list("sleepstudy_quad_reml",   "sleepstudy", "Reaction ~ Days + I(Days^2) + (0 + Days | Subject)", TRUE),
  list("sleepstudy_poly_ml",     "sleepstudy", "Reaction ~ poly(Days, 2) + (1 | Subject)", FALSE),
  list("sleepstudy_log_reml",    "sleepstudy", "log(Reaction) ~ Days + (Days | Subject)", TRUE),
  list("sleepstudy_scale_reml",  "sleepstudy", "Reaction ~ scale(Days) + (1 | Subject)", TRUE),
  list("sleepstudy_offset_reml", "sleepstudy", "Reaction ~ Days + offset(Days) + (1 | Subject)", TRUE),
  list("dyestuff_reml",          "Dyestuff",   "Yield ~ 1 + (1 | Batch)", TRUE),
  list("dyestuff_ml",            "Dyestuff",   "Yield ~ 1 + (1 | Batch)", FALSE),
  list("dyestuff2_reml",         "Dyestuff2",  "Yield ~ 1 + (1 | Batch)", TRUE),
  list("penicillin_reml",        "Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", TRUE),
  list("penicillin_ml",          "Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", FALSE),
  list("pastes_nested_reml",     "Pastes",     "strength ~ 1 + (1 | batch/cask)", TRUE),
  list("pastes_sample_ml",       "Pastes",     "strength ~ 1 + (1 | sample) + (1 | batch)", FALSE),
  list("oats_splitplot_reml",    "Oats",       "yield ~ factor(nitro) * Variety + (1 | Block) + (1 | Block:Variety)", TRUE),
  list("oats_splitplot_ml",      "Oats",       "yield ~ factor(nitro) * Variety + (1 | Block) + (1 | Block:Variety)", FALSE),
  list("oats_nested_reml",       "Oats",       "yield ~ nitro + Variety + (1 | Block/Variety)", TRUE),
  list("orthodont_reml",         "Orthodont",  "distance ~ age * Sex + (age | Subject)", TRUE),
  list("orthodont_ml_nocorr",    "Orthodont",  "distance ~ age + Sex + (1 | Subject) + (0 + age | Subject)", FALSE),
  list("oats_vslope_reml",       "Oats",       "yield ~ nitro + (0 + Variety | Block)", TRUE),
  ## ---- extra edge cases ----
  ## same model as sleepstudy_uncorr_reml written with two explicit terms
  ## (compare theta/VarCorr naming with the `||` form)
  list("sleepstudy_twoterm_reml", "sleepstudy", "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", TRUE),
  ## many fixed effects from a factor() term, ML
  list("sleepstudy_factor_ml",    "sleepstudy", "Reaction ~ factor(Days) + (1 | Subject)", FALSE),
  ## no fixed intercept
  list("sleepstudy_noint_reml",   "sleepstudy", "Reaction ~ 0 + Days + (1 | Subject)", TRUE),
  ## singular fit under ML as well
  list("dyestuff2_ml",            "Dyestuff2",  "Yield ~ 1 + (1 | Batch)", FALSE),
  ## RCBD: fixed treatment, random blocks (matches the aov fixture)
  list("penicillin_rcbd_reml",    "Penicillin", "diameter ~ sample + (1 | plate)", TRUE),
  ## nested, ML
  list("pastes_nested_ml",        "Pastes",     "strength ~ 1 + (1 | batch/cask)", FALSE),
  ## correlated random slope, ML, with a two-level fixed factor interaction
  list("orthodont_ml",            "Orthodont",  "distance ~ age * Sex + (age | Subject)", FALSE),
  ## crossed + nested random effects on the same data, ML
  list("oats_crossed_ml",         "Oats",       "yield ~ nitro + (1 | Block) + (1 | Variety) + (1 | Block:Variety)", FALSE)
)
model_specs <- lapply(model_specs, function(s)
  list(id = s[[1]], dataset = s[[2]], formula = s[[3]], REML = s[[4]]))
stopifnot(!anyDuplicated(vapply(model_specs, `[[`, "", "id")))

lmer_call <- function(formula, dataset, REML, fun = "lmer")
  sprintf("%s(%s, data = %s, REML = %s)", fun, formula, dataset, if (REML) "TRUE" else "FALSE")

objective_of <- function(m) if (isREML(m)) REMLcrit(m) else deviance(m)

## rows of as.data.frame(VarCorr(m)): grp, var1, var2, vcov, sdcor
varcorr_json <- function(m) {
  vc <- as.data.frame(VarCorr(m))
  lapply(seq_len(nrow(vc)), function(i)
    list(grp = vc$grp[i], var1 = vc$var1[i], var2 = vc$var2[i],
         vcov = vc$vcov[i], sdcor = vc$sdcor[i]))
}

## ranef(m, condVar = TRUE) and the conditional SDs from
## as.data.frame(ranef(m, condVar = TRUE)), both as level x column matrices.
ranef_json <- function(m) {
  re <- ranef(m, condVar = TRUE)
  red <- as.data.frame(re)
  out <- list()
  for (g in names(re)) {
    vals <- as.matrix(re[[g]])
    lev <- rownames(re[[g]]); cols <- colnames(re[[g]])
    sdm <- matrix(NA_real_, length(lev), length(cols))
    sub <- red[red$grpvar == g, , drop = FALSE]
    for (j in seq_along(cols)) {
      sj <- sub[sub$term == cols[j], , drop = FALSE]
      sdm[, j] <- sj$condsd[match(lev, as.character(sj$grp))]
    }
    stopifnot(!anyNA(sdm))
    out[[g]] <- list(levels = arr(lev), columns = arr(cols),
                     values = rows_of(vals), condsd = rows_of(sdm))
  }
  out
}

## Refit with much tighter optimizer settings (the call text gets a
## `control =` argument appended; equivalent to update(m, control = ...));
## returns objective/theta per optimizer (and any warnings) plus the minimum.
TIGHT_CONTROLS <- c(
  ## (nloptr's default xtol_rel = 1e-4 would otherwise stop nloptwrap exactly
  ##  where the default fit stops, so the relative tolerances are tightened too)
  nloptwrap = 'lmerControl(optimizer = "nloptwrap", optCtrl = list(ftol_abs = 1e-14, xtol_abs = 1e-12, ftol_rel = 1e-15, xtol_rel = 1e-12, maxeval = 1e5))',
  bobyqa    = 'lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5))')
tight_refits <- function(r_call) {
  res <- lapply(TIGHT_CONTROLS, function(ct) {
    call_txt <- sub("\\)$", paste0(", control = ", ct, ")"), r_call)
    ## m_tight <- lmer(<formula>, data = <data>, REML = <REML>, control = lmerControl(...))
    r <- tryCatch(eval_text(call_txt), error = function(e) list(error = conditionMessage(e)))
    if (!is.null(r$error)) return(list(r_call = call_txt, objective = NA_real_,
                                       theta = arr(NA_real_), warnings = arr(r$error)))
    list(r_call = call_txt, objective = objective_of(r$value),
         theta = arr(getME(r$value, "theta")),
         warnings = arr(c(r$warnings, r$messages)), model = r$value)
  })
  models <- lapply(res, function(r) r$model)
  res <- lapply(res, function(r) { r$model <- NULL; r })
  objs <- vapply(res, function(r) r$objective, numeric(1))
  best <- which.min(objs)
  list(objective_tight = min(objs, na.rm = TRUE),
       objective_tight_nloptwrap = res$nloptwrap$objective,
       objective_tight_bobyqa = res$bobyqa$objective,
       objective_tight_optimizer = names(res)[best],
       theta_tight = res[[best]]$theta,
       ## the estimates of the best tight refit, to compare with where lme4's default stops early
       estimates_tight = estimates_json(models[[best]]),
       tight_details = res)
}

## The estimates of one fit (used for the tight refits).
estimates_json <- function(m) {
  if (is.null(m)) return(NULL)
  V <- as.matrix(vcov(m))
  list(sigma = sigma(m), fixef = arr(fixef(m)), se = arr(sqrt(diag(V))), vcov = rows_of(V),
       varcorr = varcorr_json(m), ranef = ranef_json(m), fitted = arr(fitted(m)),
       residuals = arr(residuals(m, type = "response")), loglik = as.numeric(logLik(m)),
       aic = AIC(m), bic = BIC(m),
       ## print(summary(m_tight)) and print(m_tight): what R prints at the tightly converged optimum
       summary_text = print_text(summary(m)), print_text = print_text(m))
}

## All recorded quantities of one lmer fit.
model_entry <- function(spec) {
  r_call <- lmer_call(spec$formula, spec$dataset, spec$REML)
  ## m <- <r_call>, e.g. lmer(Reaction ~ Days + (Days | Subject), data = sleepstudy, REML = TRUE)
  fit <- eval_text(r_call)
  m <- fit$value
  V <- as.matrix(vcov(m))
  ll <- logLik(m)
  conv_msgs <- m@optinfo$conv$lme4$messages
  c(list(
    id = spec$id, dataset = spec$dataset, formula = spec$formula, REML = spec$REML,
    r_call = r_call,
    objective = objective_of(m),                        # REMLcrit(m) / deviance(m)
    theta = arr(getME(m, "theta")),                     # unname(getME(m, "theta"))
    theta_names = arr(names(getME(m, "theta"))),
    sigma = sigma(m),
    fixef_names = arr(names(fixef(m))),
    fixef = arr(fixef(m)),
    se = arr(sqrt(diag(V))),                            # sqrt(diag(vcov(m)))
    vcov = rows_of(V),
    vcov_corr = rows_of(cov2cor(V)),
    loglik = as.numeric(ll),                            # as.numeric(logLik(m))
    aic = AIC(m), bic = BIC(m),
    df = as.integer(attr(ll, "df")),
    nobs = nobs(m),
    df_resid = df.residual(m),
    ngroups = as.list(ngrps(m)),                        # ngrps(m), in order
    varcorr = varcorr_json(m),                          # as.data.frame(VarCorr(m))
    ranef = ranef_json(m),                              # ranef(m, condVar = TRUE)
    fitted = arr(fitted(m)),
    residuals = arr(residuals(m, type = "response")),
    scaled_residuals = arr(residuals(m, scaled = TRUE)),
    singular = isSingular(m),
    feval = m@optinfo$feval,
    optimizer = m@optinfo$optimizer,
    conv_messages = arr(if (is.null(conv_msgs)) character(0) else conv_msgs),
    warnings = arr(c(fit$warnings, fit$messages)),
    summary_text = print_text(summary(m)),
    print_text = print_text(m)
  ), tight_refits(r_call))
}

## Sanity check (not stored): the same call on the ORIGINAL package data gives
## the same fit as on the re-read CSV data.
orig_env <- new.env(parent = globalenv())
for (nm in names(orig)) assign(nm, as.data.frame(orig[[nm]]), envir = orig_env)
sanity_check <- function(spec, entry) {
  r <- eval_text(lmer_call(spec$formula, spec$dataset, spec$REML), envir = orig_env)
  m0 <- r$value
  ok <- isTRUE(all.equal(objective_of(m0), entry$objective, tolerance = 1e-8)) &&
        isTRUE(all.equal(unname(fixef(m0)), as.numeric(entry$fixef), tolerance = 1e-5)) &&
        isTRUE(all.equal(unname(getME(m0, "theta")), as.numeric(entry$theta), tolerance = 1e-4))
  if (!ok) warning("sanity check: fit on original data differs for ", spec$id)
  ok
}

say("fitting lme4 models ...")
models <- list()
for (spec in model_specs) {
  e <- model_entry(spec)
  ok <- sanity_check(spec, e)
  say(sprintf("  %-26s obj=%.6f tight=%.6f singular=%s warnings=%d sanity=%s",
              spec$id, e$objective, e$objective_tight, e$singular,
              length(e$warnings), ok))
  models[[length(models) + 1L]] <- e
}
model_by_id <- stats::setNames(models, vapply(models, `[[`, "", "id"))

write_fixture(c(version_info(), list(models = models)),
              file.path(FIX_DIR, "lme4_models.json"))

## ===========================================================================
## 3. lmerTest / pbkrtest inference  ->  tests/fixtures/lmertest.json
## ===========================================================================

lmertest_ids <- c("sleepstudy_slope_reml", "sleepstudy_int_reml", "penicillin_reml",
                  "pastes_nested_reml", "oats_splitplot_reml", "orthodont_reml",
                  "dyestuff_reml")
DDFS <- c("Satterthwaite", "Kenward-Roger")

## Example contrast matrix for contest(): row 1 tests the 2nd coefficient,
## row 2 is intercept + last coefficient; a 1x1 matrix for intercept-only models.
example_L <- function(m) {
  nm <- names(fixef(m)); p <- length(nm)
  if (p == 1L) {
    L <- matrix(1, 1, 1)
  } else {
    L <- matrix(0, 2, p)
    L[1, 2] <- 1
    L[2, 1] <- 1; L[2, p] <- L[2, p] + 1
  }
  colnames(L) <- nm
  L
}

## anova() table + its hypothesis matrices (attr "hypotheses": one L per term)
anova_entry <- function(m, type, ddf) {
  ## anova(m, type = <type>, ddf = "<ddf>")
  r_call <- sprintf('anova(m, type = %d, ddf = "%s")', type, ddf)
  r <- tryCatch(with_conditions(anova(m, type = type, ddf = ddf)),
                error = function(e) list(error = conditionMessage(e)))
  if (!is.null(r$error)) return(list(type = type, ddf = ddf, r_call = r_call, error = r$error))
  a <- r$value
  hyp <- attr(a, "hypotheses")
  c(list(type = type, ddf = ddf, r_call = r_call, heading = paste(attr(a, "heading"), collapse = "\n")),
    table_json(a),
    list(hypotheses = lapply(hyp, function(L) list(columns = arr(colnames(L)), values = rows_of(L))),
         text = print_text(a), warnings = arr(r$warnings), messages = arr(r$messages)))
}

## lmerTest::contest(m, L, joint = <joint>, ddf = "<ddf>")
contest_entry <- function(m, L, joint, ddf) {
  r <- with_conditions(lmerTest::contest(m, L, joint = joint, ddf = ddf))
  c(list(joint = joint, ddf = ddf,
         r_call = sprintf('lmerTest::contest(m, L, joint = %s, ddf = "%s")',
                          if (joint) "TRUE" else "FALSE", ddf)),
    table_json(r$value),
    list(text = print_text(r$value), warnings = arr(r$warnings), messages = arr(r$messages)))
}

## anova(m, ddf = "lme4"): lme4's single-model table (sequential sums of squares)
anova_lme4_entry <- function(m) {
  a <- anova(m, ddf = "lme4")
  c(list(r_call = 'anova(m, ddf = "lme4")', heading = paste(attr(a, "heading"), collapse = "\n")),
    table_json(a), list(text = print_text(a)))
}

lmertest_entry <- function(id) {
  spec <- model_by_id[[id]]
  r_call <- lmer_call(spec$formula, spec$dataset, spec$REML, fun = "lmerTest::lmer")
  ## m <- lmerTest::lmer(<formula>, data = <dataset>, REML = TRUE)
  fit <- eval_text(r_call)
  m <- fit$value
  L <- example_L(m)
  ## coef(summary(m, ddf = "Satterthwaite")) / coef(summary(m, ddf = "Kenward-Roger"))
  cs <- coef(summary(m, ddf = "Satterthwaite"))
  ck <- coef(summary(m, ddf = "Kenward-Roger"))
  ## confint(m, method = "Wald")
  ciw <- with_conditions(confint(m, method = "Wald"))
  ## confint(m, method = "profile", oldNames = FALSE)
  cip <- with_conditions(confint(m, method = "profile", oldNames = FALSE))
  anovas <- list()
  for (ddf in DDFS) for (type in 1:3) anovas[[length(anovas) + 1L]] <- anova_entry(m, type, ddf)
  contests <- list()
  for (ddf in DDFS) for (joint in c(TRUE, FALSE))
    contests[[length(contests) + 1L]] <- contest_entry(m, L, joint, ddf)
  list(
    model_id = id, r_call = r_call, warnings = arr(c(fit$warnings, fit$messages)),
    coef_satterthwaite = table_json(cs),
    coef_kr = table_json(ck),
    ## print(summary(m)) (default ddf = Satterthwaite) and print(summary(m, ddf = "Kenward-Roger"))
    summary_text_satterthwaite = print_text(summary(m)),
    summary_text_kr = print_text(summary(m, ddf = "Kenward-Roger")),
    ## as.matrix(pbkrtest::vcovAdj(m)): Kenward-Roger adjusted covariance of fixef
    vcov_kr = rows_of(as.matrix(pbkrtest::vcovAdj(m))),
    anova = anovas,
    anova_lme4 = anova_lme4_entry(m),
    contest = list(L = list(columns = arr(colnames(L)), values = rows_of(L)),
                   results = contests),
    confint_wald = c(list(r_call = 'confint(m, method = "Wald")'), table_json(ciw$value),
                     list(warnings = arr(ciw$warnings), messages = arr(ciw$messages))),
    confint_profile = c(list(r_call = 'confint(m, method = "profile", oldNames = FALSE)'),
                        table_json(cip$value),
                        list(warnings = arr(cip$warnings), messages = arr(cip$messages)))
  )
}

say("lmerTest fits ...")
lmertest_models <- list()
for (id in lmertest_ids) {
  lmertest_models[[length(lmertest_models) + 1L]] <- lmertest_entry(id)
  say("  ", id)
}

## ---- likelihood-ratio tests: lme4 anova(m0, m1) on REML fits --------------
lrt_entry <- function(id, m0_call, m1_call) {
  env <- new.env(parent = globalenv())
  ## m0 <- <m0_call>; m1 <- <m1_call>; anova(m0, m1)
  assign("m0", eval_text(m0_call)$value, envir = env)
  assign("m1", eval_text(m1_call)$value, envir = env)
  r <- with_conditions(eval(quote(anova(m0, m1)), envir = env))
  msgs <- c(r$warnings, r$messages)
  c(list(id = id, m0_call = m0_call, m1_call = m1_call, r_call = "anova(m0, m1)"),
    table_json(r$value),
    list(text = print_text(r$value),
         refit_ml_message = any(grepl("refitting model(s) with ML", msgs, fixed = TRUE)),
         messages = arr(msgs)))
}
lrts <- list(
  lrt_entry("sleepstudy_int_vs_slope",
            "lmer(Reaction ~ Days + (1 | Subject), data = sleepstudy, REML = TRUE)",
            "lmer(Reaction ~ Days + (Days | Subject), data = sleepstudy, REML = TRUE)"),
  lrt_entry("oats_nitro_vs_nitro_variety",
            "lmer(yield ~ nitro + (1 | Block/Variety), data = Oats, REML = TRUE)",
            "lmer(yield ~ nitro + Variety + (1 | Block/Variety), data = Oats, REML = TRUE)")
)

## ---- Satterthwaite's method on ML fits (devfun_vp without the REML terms) --
ml_entry <- function(id) {
  spec <- model_by_id[[id]]
  r_call <- lmer_call(spec$formula, spec$dataset, spec$REML, fun = "lmerTest::lmer")
  ## m <- lmerTest::lmer(<formula>, data = <dataset>, REML = FALSE)
  fit <- eval_text(r_call)
  m <- fit$value
  list(model_id = id, r_call = r_call, warnings = arr(c(fit$warnings, fit$messages)),
       ## coef(summary(m)) (ddf = "Satterthwaite")
       coef_satterthwaite = table_json(coef(summary(m))),
       ## print(summary(m))
       summary_text_satterthwaite = print_text(summary(m)),
       ## anova(m, type = 3 / 1, ddf = "Satterthwaite")
       anova = list(anova_entry(m, 3, "Satterthwaite"), anova_entry(m, 1, "Satterthwaite")))
}
ml_models <- lapply(c("sleepstudy_slope_ml", "orthodont_ml"), ml_entry)

## ---- more designs for anova / coef / profile (each entry self-contained, with lme4's theta) ----
extra_entry <- function(id, dataset, formula, REML = TRUE) {
  r_call <- lmer_call(formula, dataset, REML, fun = "lmerTest::lmer")
  ## m <- lmerTest::lmer(<formula>, data = <dataset>, REML = <REML>)
  fit <- eval_text(r_call)
  m <- fit$value
  ddfs <- if (REML) DDFS else "Satterthwaite"
  anovas <- list()
  for (ddf in ddfs) for (type in 1:3) anovas[[length(anovas) + 1L]] <- anova_entry(m, type, ddf)
  ## confint(m, method = "profile", oldNames = FALSE)
  cip <- with_conditions(confint(m, method = "profile", oldNames = FALSE))
  list(id = id, dataset = dataset, formula = formula, REML = REML, r_call = r_call,
       theta = arr(getME(m, "theta")), warnings = arr(c(fit$warnings, fit$messages)),
       ## coef(summary(m, ddf = "Satterthwaite")) / coef(summary(m, ddf = "Kenward-Roger"))
       coef_satterthwaite = table_json(coef(summary(m, ddf = "Satterthwaite"))),
       coef_kr = if (REML) table_json(coef(summary(m, ddf = "Kenward-Roger"))),
       anova = anovas,
       confint_profile = c(table_json(cip$value), list(warnings = arr(cip$warnings))))
}
extra_models <- list(
  ## nested fixed effects: Variety/factor(nitro) = Variety + Variety:factor(nitro) (Variety has code 2 in
  ## the interaction's column of the terms' factors matrix, so lmerTest finds no containment)
  extra_entry("oats_nested_fixed", "Oats", "yield ~ Variety/factor(nitro) + (1 | Block)"),
  ## numeric x factor interaction (type II/III containment with a numeric variable)
  extra_entry("oats_num_by_factor", "Oats", "yield ~ nitro * Variety + (1 | Block)"),
  ## singular fit (sd of Batch = 0)
  extra_entry("dyestuff2_singular", "Dyestuff2", "Yield ~ 1 + (1 | Batch)"),
  ## two terms for the same grouping factor
  extra_entry("sleepstudy_uncorr", "sleepstudy", "Reaction ~ Days + (Days || Subject)"),
  ## no intercept
  extra_entry("sleepstudy_noint", "sleepstudy", "Reaction ~ 0 + Days + (1 | Subject)"),
  ## a two-column term, ML
  extra_entry("sleepstudy_poly_ml", "sleepstudy", "Reaction ~ poly(Days, 2) + (1 | Subject)", REML = FALSE)
)

write_fixture(c(version_info(), list(models = lmertest_models, lrt = lrts, ml_models = ml_models,
                                     extra_models = extra_models)),
              file.path(FIX_DIR, "lmertest.json"))

## ===========================================================================
## 4. Classical ANOVA with error strata  ->  tests/fixtures/aov.json
## ===========================================================================

## Simulated balanced split-split-plot: 4 blocks; whole-plot factor A (3
## levels) within blocks; split-plot factor B (2) within block:A; split-split
## factor C (3) within block:A:B. 72 observations, y rounded to 2 decimals.
make_splitsplit <- function() {
  set.seed(20240607)
  d <- expand.grid(C = paste0("c", 1:3), B = paste0("b", 1:2), A = paste0("a", 1:3),
                   block = paste0("R", 1:4), KEEP.OUT.ATTRS = FALSE, stringsAsFactors = TRUE)
  d <- d[, c("block", "A", "B", "C")]
  u_block <- rnorm(4, sd = 3)
  u_bA    <- rnorm(12, sd = 2)
  u_bAB   <- rnorm(24, sd = 1.5)
  eff_A <- c(0, 2, 4); eff_B <- c(0, 1.5); eff_C <- c(0, -1, 1)
  iA <- as.integer(d$A); iB <- as.integer(d$B); iC <- as.integer(d$C); ib <- as.integer(d$block)
  y <- 50 + eff_A[iA] + eff_B[iB] + eff_C[iC] + 0.8 * (iA == 3 & iC == 3) +
       u_block[ib] + u_bA[(ib - 1) * 3 + iA] + u_bAB[((ib - 1) * 3 + iA - 1) * 2 + iB] +
       rnorm(nrow(d), sd = 1)
  d$y <- round(y, 2)
  rownames(d) <- NULL
  d
}
splitsplit <- make_splitsplit()

## Mean squares of the "Residuals" row of each stratum of summary(aov)
resid_ms <- function(s) {
  vapply(s, function(st) {
    t <- st[[1]]; rn <- trimws(rownames(t))
    t[["Mean Sq"]][rn == "Residuals"]
  }, numeric(1))
}

AOV_COLS <- c("Df", "Sum Sq", "Mean Sq", "F value", "Pr(>F)")
strata_json <- function(s) {
  out <- list()
  for (nm in names(s)) {
    t <- as.data.frame(s[[nm]][[1]], check.names = FALSE)
    ## strata with only a Residuals row print no F / Pr columns: pad with null
    for (cl in setdiff(AOV_COLS, names(t))) t[[cl]] <- NA_real_
    out[[nm]] <- table_json(t[, AOV_COLS, drop = FALSE])
  }
  out
}

aov_design <- function(id, aov_txt, lmer_txt, moments_fun, ems, extra = list()) {
  ## fit <- <aov_txt>; summary(fit)
  a <- eval_text(aov_txt)
  s <- summary(a$value)
  ms <- resid_ms(s)
  ## m <- <lmer_txt>
  l <- eval_text(lmer_txt)
  m <- l$value
  c(list(id = id, r_call = aov_txt,
         strata = strata_json(s),
         text = print_text(s),
         aov_warnings = arr(c(a$warnings, a$messages)),
         residual_mean_squares = as.list(ms),
         ems = arr(ems),
         moment_estimates = moments_fun(ms),
         lmer = list(r_call = lmer_txt, REML = TRUE,
                     objective = objective_of(m),
                     theta = arr(getME(m, "theta")),
                     theta_names = arr(names(getME(m, "theta"))),
                     sigma = sigma(m),
                     varcorr = varcorr_json(m),
                     fixef_names = arr(names(fixef(m))),
                     fixef = arr(fixef(m)),
                     singular = isSingular(m),
                     warnings = arr(c(l$warnings, l$messages)))),
    extra)
}

aov_designs <- list(
  ## Oats split plot: 6 Blocks x 3 Varieties (whole plots) x 4 nitro (subplots)
  ## EMS:  E[MS Block resid]         = s2 + 4 s2_BV + 12 s2_B
  ##       E[MS Block:Variety resid] = s2 + 4 s2_BV
  ##       E[MS Within resid]        = s2
  aov_design(
    "oats_splitplot",
    "aov(yield ~ factor(nitro) * Variety + Error(Block/Variety), data = Oats)",
    "lmer(yield ~ factor(nitro) * Variety + (1 | Block) + (1 | Block:Variety), data = Oats, REML = TRUE)",
    function(ms) {
      s2    <- ms[["Error: Within"]]
      s2_BV <- (ms[["Error: Block:Variety"]] - ms[["Error: Within"]]) / 4
      s2_B  <- (ms[["Error: Block"]] - ms[["Error: Block:Variety"]]) / 12
      list(`Block:Variety` = s2_BV, Block = s2_B, Residual = s2)
    },
    c("E[MS Error: Block] = s2 + 4*s2_BlockVariety + 12*s2_Block",
      "E[MS Error: Block:Variety Residuals] = s2 + 4*s2_BlockVariety",
      "E[MS Error: Within Residuals] = s2")),

  ## Penicillin as an RCBD: 24 plates (blocks) x 6 samples (treatments, fixed)
  ## EMS:  E[MS plate resid]  = s2 + 6 s2_plate
  ##       E[MS Within resid] = s2
  aov_design(
    "penicillin_rcbd",
    "aov(diameter ~ sample + Error(plate), data = Penicillin)",
    "lmer(diameter ~ sample + (1 | plate), data = Penicillin, REML = TRUE)",
    function(ms) {
      s2 <- ms[["Error: Within"]]
      list(plate = (ms[["Error: plate"]] - s2) / 6, Residual = s2)
    },
    c("E[MS Error: plate] = s2 + 6*s2_plate",
      "E[MS Error: Within Residuals] = s2")),

  ## Dyestuff one-way random: 6 batches x 5 replicates
  ## EMS:  E[MS Batch] = s2 + 5 s2_Batch;  E[MS Within] = s2
  aov_design(
    "dyestuff_oneway",
    "aov(Yield ~ 1 + Error(Batch), data = Dyestuff)",
    "lmer(Yield ~ 1 + (1 | Batch), data = Dyestuff, REML = TRUE)",
    function(ms) {
      s2 <- ms[["Error: Within"]]
      list(Batch = (ms[["Error: Batch"]] - s2) / 5, Residual = s2)
    },
    c("E[MS Error: Batch] = s2 + 5*s2_Batch", "E[MS Error: Within] = s2")),

  ## Dyestuff2: same layout; MS Batch < MS Within gives a NEGATIVE moment
  ## estimate of s2_Batch (the REML fit is singular, s2_Batch = 0).
  aov_design(
    "dyestuff2_oneway",
    "aov(Yield ~ 1 + Error(Batch), data = Dyestuff2)",
    "lmer(Yield ~ 1 + (1 | Batch), data = Dyestuff2, REML = TRUE)",
    function(ms) {
      s2 <- ms[["Error: Within"]]
      list(Batch = (ms[["Error: Batch"]] - s2) / 5, Residual = s2)
    },
    c("E[MS Error: Batch] = s2 + 5*s2_Batch", "E[MS Error: Within] = s2")),

  ## Pastes nested: 10 batches, 3 casks per batch, 2 samples per cask
  ## EMS:  E[MS batch]      = s2 + 2 s2_cask + 6 s2_batch
  ##       E[MS batch:cask] = s2 + 2 s2_cask
  ##       E[MS Within]     = s2
  aov_design(
    "pastes_nested",
    "aov(strength ~ 1 + Error(batch/cask), data = Pastes)",
    "lmer(strength ~ 1 + (1 | batch/cask), data = Pastes, REML = TRUE)",
    function(ms) {
      s2 <- ms[["Error: Within"]]
      s2_c <- (ms[["Error: batch:cask"]] - s2) / 2
      s2_b <- (ms[["Error: batch"]] - ms[["Error: batch:cask"]]) / 6
      list(`cask:batch` = s2_c, batch = s2_b, Residual = s2)
    },
    c("E[MS Error: batch] = s2 + 2*s2_cask + 6*s2_batch",
      "E[MS Error: batch:cask] = s2 + 2*s2_cask",
      "E[MS Error: Within] = s2")),

  ## Simulated split-split plot (see make_splitsplit(); data stored below):
  ## 4 blocks; A (3) on whole plots; B (2) on split plots; C (3) on split-split plots
  ## EMS:  E[MS block]       = s2 + 3 s2_bAB + 6 s2_bA + 18 s2_b
  ##       E[MS block:A res] = s2 + 3 s2_bAB + 6 s2_bA
  ##       E[MS block:A:B res] = s2 + 3 s2_bAB
  ##       E[MS Within res]  = s2
  aov_design(
    "splitsplit_sim",
    "aov(y ~ A * B * C + Error(block/A/B), data = splitsplit)",
    "lmer(y ~ A * B * C + (1 | block) + (1 | block:A) + (1 | block:A:B), data = splitsplit, REML = TRUE)",
    function(ms) {
      s2     <- ms[["Error: Within"]]
      s2_bAB <- (ms[["Error: block:A:B"]] - s2) / 3
      s2_bA  <- (ms[["Error: block:A"]] - ms[["Error: block:A:B"]]) / 6
      s2_b   <- (ms[["Error: block"]] - ms[["Error: block:A"]]) / 18
      list(`block:A:B` = s2_bAB, `block:A` = s2_bA, block = s2_b, Residual = s2)
    },
    c("E[MS Error: block] = s2 + 3*s2_blockAB + 6*s2_blockA + 18*s2_block",
      "E[MS Error: block:A Residuals] = s2 + 3*s2_blockAB + 6*s2_blockA",
      "E[MS Error: block:A:B Residuals] = s2 + 3*s2_blockAB",
      "E[MS Error: Within Residuals] = s2"),
    extra = list(
      data_name = "splitsplit",
      simulation = "make_splitsplit() in tests/r/make_fixtures.R, set.seed(20240607)",
      data = lapply(splitsplit, function(col) arr(if (is.factor(col)) as.character(col) else col)),
      levels = factor_levels(splitsplit)))
)

write_fixture(c(version_info(), list(designs = aov_designs)),
              file.path(FIX_DIR, "aov.json"))

say("done")
