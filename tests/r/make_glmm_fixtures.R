#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## make_glmm_fixtures.R -- reference results of lme4::glmer / glmer.nb (and glmmTMB's nbinom2)
##
## Run from the repository root:   Rscript tests/r/make_glmm_fixtures.R
## (R 4.2.2, lme4 1.1.31, glmmTMB, mlmRev, MASS)
##
## Writes
##   mixedmodels/datasets/data/{cbpp,grouseticks,VerbAgg,Contraception}.csv  (+ their levels in levels.json)
##   tests/fixtures/glmm_sim.csv     simulated data (seeded) for the Gamma, inverse Gaussian, negative
##                                   binomial, offset, singular, separation and link cases
##   tests/fixtures/glmm.json        one record per fit (see `record()` below)
## Every model is fitted on the data as re-read from the exported CSV files.
## ---------------------------------------------------------------------------
suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})
if (!file.exists(file.path("tests", "r", "make_glmm_fixtures.R")))
  stop("run this script from the repository root")
options(width = 80, digits = 7, scipen = 0, OutDec = ".")
source(file.path("tests", "r", "json_helpers.R"))

DATA_DIR <- file.path("mixedmodels", "datasets", "data")
FIX_DIR <- file.path("tests", "fixtures")

plain_df <- function(df) {
  df <- as.data.frame(df)
  for (cl in names(df)) if (is.factor(df[[cl]])) df[[cl]] <- factor(as.character(df[[cl]]),
                                                                      levels = levels(df[[cl]]))
  attr(df, "terms") <- NULL
  df
}
factor_levels <- function(df) {
  cols <- names(df)[vapply(df, is.factor, logical(1))]
  stats::setNames(lapply(cols, function(cl) arr(levels(df[[cl]]))), cols)
}

## ---- 1. bundled data sets --------------------------------------------------------------------
orig <- list(cbpp = lme4::cbpp, grouseticks = lme4::grouseticks, VerbAgg = lme4::VerbAgg,
             Contraception = mlmRev::Contraception)
levels_path <- file.path(DATA_DIR, "levels.json")
levels_all <- jsonlite::read_json(levels_path, simplifyVector = FALSE)
for (nm in names(orig)) {
  df <- plain_df(orig[[nm]])
  utils::write.csv(df, file.path(DATA_DIR, paste0(nm, ".csv")), row.names = FALSE)
  levels_all[[nm]] <- factor_levels(df)
}
jsonlite::write_json(lapply(levels_all, function(d) lapply(d, function(v) I(unlist(v)))), levels_path,
                     auto_unbox = TRUE, pretty = TRUE)
for (nm in names(orig)) assign(nm, read_dataset(nm), envir = globalenv())

## ---- 2. simulated data (seeded) ---------------------------------------------------------------
set.seed(20261206)
n <- 400; ng <- 20
g <- factor(sprintf("g%02d", rep(seq_len(ng), each = n / ng)))
h <- factor(sprintf("h%d", rep(1:8, length.out = n)))
x <- round(rnorm(n), 4)
b <- rnorm(ng, sd = 0.5)[as.integer(g)]
expo <- round(runif(n, 1, 10), 3)
sim <- data.frame(g = g, h = h, x = x, expo = expo)
sim$ygam <- signif(rgamma(n, shape = 4, rate = 4 / exp(1 + 0.5 * x + b)), 6)
sim$yinv <- signif(statmod_rinvgauss <- {
  mu <- exp(0.5 + 0.3 * x + 0.5 * b); lambda <- 8
  nu <- rnorm(n); yy <- nu^2
  xx <- mu + mu^2 * yy / (2 * lambda) - mu / (2 * lambda) * sqrt(4 * mu * lambda * yy + mu^2 * yy^2)
  ifelse(runif(n) <= mu / (mu + xx), xx, mu^2 / xx)
}, 6)
sim$ynb <- rnbinom(n, size = 2.5, mu = exp(1 + 0.4 * x + b))
sim$ypois <- rpois(n, expo * exp(-0.5 + 0.3 * x + b))
sim$ygau <- round(exp(2 + 0.2 * x + 0.3 * b) + rnorm(n, sd = 0.5), 4)
sim$ybin <- rbinom(n, 1, plogis(0.2 + 0.8 * x + b))
sim$ysing <- rbinom(n, 1, plogis(0.3 + 0.5 * x))            # no group effect: singular fit
sim$ysep <- as.integer(x > 0.8 | (x > -0.5 & sim$ybin == 1))  # separated by xsep below
sim$xsep <- as.integer(x > 0.8)
sim$ylogi <- sim$ybin == 1                                   # a logical response
sim$ntri <- sample(3:12, n, replace = TRUE)
sim$ysucc <- rbinom(n, sim$ntri, pnorm(-0.3 + 0.4 * x + 0.5 * b))
sim_path <- file.path(FIX_DIR, "glmm_sim.csv")
utils::write.csv(sim, sim_path, row.names = FALSE)
glmmsim <- utils::read.csv(sim_path, stringsAsFactors = FALSE)
glmmsim$g <- factor(glmmsim$g); glmmsim$h <- factor(glmmsim$h)
cbpp$obs <- NULL

## ---- 3. fits ------------------------------------------------------------------------------------
head_n <- 10L
num_or_null <- function(x) if (is.null(x)) NULL else x
conv_info <- function(m) {
  oi <- m@optinfo
  list(optimizer = arr(oi$optimizer), conv_code = oi$conv$opt,
       lme4_messages = arr(unlist(oi$conv$lme4$messages)), warnings = arr(unlist(oi$warnings)),
       feval = oi$feval)
}
record <- function(id, m, call_text, data_name, extra = list()) {
  s <- summary(m)
  vc <- as.matrix(vcov(m))
  fam <- family(m)
  res <- list(
    id = id, call = call_text, data = data_name, formula = paste(deparse(formula(m)), collapse = " "),
    family = fam$family, link = fam$link, nAGQ = m@devcomp$dims[["nAGQ"]],
    deviance = deviance(m), minus2loglik = -2 * as.numeric(logLik(m)),
    loglik = as.numeric(logLik(m)), aic = AIC(m), bic = BIC(m), df_resid = df.residual(m),
    nobs = nobs(m), theta = arr(getME(m, "theta")), beta = arr(fixef(m)), beta_names = arr(names(fixef(m))),
    se = arr(sqrt(diag(vc))), vcov = lapply(seq_len(nrow(vc)), function(i) arr(vc[i, ])),
    sigma = sigma(m), is_singular = isSingular(m),
    ranef = ranef_list(m),
    fitted_head = arr(head(fitted(m), head_n)),
    eta_head = arr(head(predict(m, type = "link"), head_n)),
    resid_deviance_head = arr(head(residuals(m, type = "deviance"), head_n)),
    resid_pearson_head = arr(head(residuals(m, type = "pearson"), head_n)),
    resid_working_head = arr(head(residuals(m, type = "working"), head_n)),
    resid_response_head = arr(head(residuals(m, type = "response"), head_n)),
    resid_deviance_sumsq = sum(residuals(m, type = "deviance")^2),
    summary_text = paste(capture.output(print(s)), collapse = "\n"),
    print_text = paste(capture.output(print(m)), collapse = "\n"),
    conv = conv_info(m)
  )
  ## a tightly converged refit: same model, bobyqa with many evaluations
  if (is.null(extra$no_refit)) {
    m2 <- tryCatch(suppressWarnings(update(m, control = glmerControl(optimizer = "bobyqa",
                                                                    optCtrl = list(maxfun = 1e5)))),
                   error = function(e) NULL)
    if (!is.null(m2)) res$refit <- list(minus2loglik = -2 * as.numeric(logLik(m2)),
                                        theta = arr(getME(m2, "theta")), beta = arr(fixef(m2)),
                                        se = arr(sqrt(diag(as.matrix(vcov(m2))))))
  }
  extra$no_refit <- NULL
  c(res, extra)
}

fits <- list()
add <- function(id, expr_text, data_name, extra = list()) {
  cat(sprintf("%-22s %s\n", id, expr_text))
  w <- character(0)
  m <- withCallingHandlers(eval(parse(text = expr_text)),
                           warning = function(cw) { w <<- c(w, conditionMessage(cw)); invokeRestart("muffleWarning") })
  t0 <- proc.time()[["elapsed"]]
  r <- record(id, m, expr_text, data_name, extra)
  r$r_warnings <- arr(w)
  fits[[id]] <<- r
  invisible(m)
}

## cbpp
add("cbpp_cbind", 'glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp, family = binomial)', "cbpp")
add("cbpp_prop", 'glmer(incidence/size ~ period + (1 | herd), data = cbpp, family = binomial, weights = size)', "cbpp")
add("cbpp_nagq0", 'glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp, family = binomial, nAGQ = 0)', "cbpp")
add("cbpp_nagq9", 'glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp, family = binomial, nAGQ = 9)', "cbpp")
add("cbpp_nagq25", 'glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp, family = binomial, nAGQ = 25)', "cbpp")
add("cbpp_probit", 'glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp, family = binomial(link = "probit"))', "cbpp")
add("cbpp_cloglog", 'glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp, family = binomial(link = "cloglog"))', "cbpp")
## grouseticks
add("grouse_crossed", 'glmer(TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION), data = grouseticks, family = poisson)', "grouseticks")
add("grouse_nested", 'glmer(TICKS ~ YEAR + cHEIGHT + (1 | LOCATION/BROOD), data = grouseticks, family = poisson)', "grouseticks")
add("grouse_nagq0", 'glmer(TICKS ~ YEAR + cHEIGHT + (1 | LOCATION), data = grouseticks, family = poisson, nAGQ = 0)', "grouseticks")
add("grouse_sqrt", 'glmer(TICKS ~ YEAR + cHEIGHT + (1 | LOCATION), data = grouseticks, family = poisson(link = "sqrt"))', "grouseticks")
## VerbAgg
add("verbagg", 'glmer(r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item), data = VerbAgg, family = binomial)', "VerbAgg")
add("verbagg_nagq0", 'glmer(r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item), data = VerbAgg, family = binomial, nAGQ = 0)', "VerbAgg")
## Contraception
add("contra_slope", 'glmer(use ~ age + I(age^2) + urban + livch + (urban | district), data = Contraception, family = binomial)', "Contraception")
add("contra_agq", 'glmer(use ~ age + I(age^2) + urban + livch + (1 | district), data = Contraception, family = binomial, nAGQ = 9)', "Contraception")
## simulated data
add("pois_offset", 'glmer(ypois ~ x + offset(log(expo)) + (1 | g), data = glmmsim, family = poisson)', "glmmsim")
add("pois_offset_arg", 'glmer(ypois ~ x + (1 | g), data = glmmsim, family = poisson, offset = log(expo))', "glmmsim")
add("gamma_log", 'glmer(ygam ~ x + (1 | g), data = glmmsim, family = Gamma(link = "log"))', "glmmsim")
add("gamma_inverse", 'glmer(ygam ~ x + (1 | g), data = glmmsim, family = Gamma)', "glmmsim")
add("invgauss_log", 'glmer(yinv ~ x + (1 | g), data = glmmsim, family = inverse.gaussian(link = "log"))', "glmmsim")
add("gaussian_log", 'glmer(ygau ~ x + (1 | g), data = glmmsim, family = gaussian(link = "log"))', "glmmsim")
add("binom_cauchit", 'glmer(ybin ~ x + (1 | g), data = glmmsim, family = binomial(link = "cauchit"))', "glmmsim")
add("binom_logical", 'glmer(ylogi ~ x + (1 | g) + (1 | h), data = glmmsim, family = binomial)', "glmmsim")
add("binom_trials_probit", 'glmer(cbind(ysucc, ntri - ysucc) ~ x + (x | g), data = glmmsim, family = binomial(link = "probit"))', "glmmsim")
add("binom_singular", 'glmer(ysing ~ x + (1 | g), data = glmmsim, family = binomial)', "glmmsim")
add("binom_separation", 'glmer(ysep ~ x + xsep + (1 | g), data = glmmsim, family = binomial)', "glmmsim")
add("binom_nagq25", 'glmer(ybin ~ x + (1 | g), data = glmmsim, family = binomial, nAGQ = 25)', "glmmsim")

## negative binomial: glmer.nb, and glmmTMB's nbinom2 for comparison
m_nb <- add("negbin", 'glmer.nb(ynb ~ x + (1 | g), data = glmmsim)', "glmmsim", list(no_refit = TRUE))
fits$negbin$nb_theta <- getME(m_nb, "glmer.nb.theta")
if (requireNamespace("glmmTMB", quietly = TRUE)) {
  tmb <- glmmTMB::glmmTMB(ynb ~ x + (1 | g), data = glmmsim, family = glmmTMB::nbinom2)
  fits$negbin$glmmTMB <- list(loglik = as.numeric(logLik(tmb)), theta = glmmTMB::sigma(tmb),
                              beta = arr(glmmTMB::fixef(tmb)$cond),
                              version = as.character(utils::packageVersion("glmmTMB")))
}

out <- list(versions = list(r_version = R.version.string, lme4_version = as.character(packageVersion("lme4")),
                            generated_by = "Rscript tests/r/make_glmm_fixtures.R"),
            fits = fits)
write_fixture(out, file.path(FIX_DIR, "glmm.json"))
cat("wrote tests/fixtures/glmm.json\n")
