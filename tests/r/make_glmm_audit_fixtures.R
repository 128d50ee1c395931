#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## make_glmm_audit_fixtures.R -- lme4::glmer references for what make_glmm_fixtures.R does not cover:
## the remaining family/link pairs (binomial log, poisson identity, Gamma identity, inverse.gaussian
## 1/mu^2, gaussian inverse), prior weights, subset, missing values, start, factor responses (either
## level order), predict() on new data, confint(method = "Wald"), anova(m0, m1), drop1(test = "Chisq")
## and lme4's errors for nAGQ > 1.
##
## Run from the repository root (after make_glmm_fixtures.R, whose glmm_sim.csv it also reads):
##     Rscript tests/r/make_glmm_audit_fixtures.R
## (R 4.2.2, lme4 1.1.31; ~30 s)
##
## Writes
##   tests/fixtures/glmm_audit_sim.csv  simulated data (seeded) whose means suit the non-canonical links
##   tests/fixtures/glmm_audit.json     fits{} (one record per fit, as in glmm.json) and extras{}
## Every model is fitted on the data as re-read from the CSV files.
## ---------------------------------------------------------------------------
suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})
if (!file.exists(file.path("tests", "r", "make_glmm_audit_fixtures.R")))
  stop("run this script from the repository root")
options(width = 80, digits = 7, scipen = 0, OutDec = ".")
source(file.path("tests", "r", "json_helpers.R"))
FIX_DIR <- file.path("tests", "fixtures")

## ---- data ---------------------------------------------------------------------------------------
set.seed(20261207)
n <- 300; ng <- 15
g <- factor(sprintf("g%02d", rep(seq_len(ng), each = n / ng)))
x <- round(rnorm(n), 4)
b <- rnorm(ng, sd = 0.3)[as.integer(g)]
bb <- rnorm(ng, sd = 1.5)[as.integer(g)]
aud <- data.frame(g = g, x = x)
aud$ycnt <- rpois(n, 20 + 3 * x + 2 * bb)                           # poisson, identity link
aud$ygi <- signif(rgamma(n, shape = 5, rate = 5 / (12 + x + bb)), 6) # Gamma, identity link
aud$yig <- signif({                                                 # inverse Gaussian, 1/mu^2 link
  mu <- 1 / sqrt(0.5 + 0.05 * x + 0.05 * b); lambda <- 10
  nu <- rnorm(n); yy <- nu^2
  xx <- mu + mu^2 * yy / (2 * lambda) - mu / (2 * lambda) * sqrt(4 * mu * lambda * yy + mu^2 * yy^2)
  ifelse(runif(n) <= mu / (mu + xx), xx, mu^2 / xx)
}, 6)
aud$w <- round(runif(n, 0.5, 2), 2)                                 # prior weights
aud$xna <- aud$x
aud$xna[sample(n, 12)] <- NA                                        # missing values (na.omit)
aud$ybin <- rbinom(n, 1, plogis(0.3 + 0.7 * x + b))
aud$yfac <- ifelse(aud$ybin == 1, "yes", "no")                      # a two-level factor response
sim_path <- file.path(FIX_DIR, "glmm_audit_sim.csv")
utils::write.csv(aud, sim_path, row.names = FALSE)
aud <- utils::read.csv(sim_path, stringsAsFactors = FALSE)
aud$g <- factor(aud$g)
aud$yfac_ny <- factor(aud$yfac, levels = c("no", "yes"))   # first level (failure) "no"
aud$yfac_yn <- factor(aud$yfac, levels = c("yes", "no"))   # first level (failure) "yes"
glmmsim <- utils::read.csv(file.path(FIX_DIR, "glmm_sim.csv"), stringsAsFactors = FALSE)
glmmsim$g <- factor(glmmsim$g); glmmsim$h <- factor(glmmsim$h)
cbpp <- read_dataset("cbpp")

## ---- one record per fit (the fields of make_glmm_fixtures.R's record()) -------------------------
head_n <- 10L
record <- function(id, m, call_text, data_name) {
  s <- summary(m)
  vc <- as.matrix(vcov(m))
  fam <- family(m)
  res <- list(
    id = id, call = call_text, data = data_name, formula = paste(deparse(formula(m)), collapse = " "),
    family = fam$family, link = fam$link, nAGQ = m@devcomp$dims[["nAGQ"]],
    deviance = deviance(m), minus2loglik = -2 * as.numeric(logLik(m)),
    loglik = as.numeric(logLik(m)), aic = AIC(m), bic = BIC(m), df_resid = df.residual(m),
    nobs = nobs(m), ngroups = as.list(ngrps(m)), theta = arr(getME(m, "theta")),
    beta = arr(fixef(m)), beta_names = arr(names(fixef(m))),
    se = arr(sqrt(diag(vc))), vcov = lapply(seq_len(nrow(vc)), function(i) arr(vc[i, ])),
    sigma = sigma(m), is_singular = isSingular(m), ranef = ranef_list(m),
    fitted_head = arr(head(fitted(m), head_n)),
    eta_head = arr(head(predict(m, type = "link"), head_n)),
    resid_deviance_head = arr(head(residuals(m, type = "deviance"), head_n)),
    resid_pearson_head = arr(head(residuals(m, type = "pearson"), head_n)),
    resid_working_head = arr(head(residuals(m, type = "working"), head_n)),
    resid_response_head = arr(head(residuals(m, type = "response"), head_n)),
    fitted_names_head = arr(head(names(fitted(m)), head_n)),
    summary_text = paste(capture.output(print(s)), collapse = "\n"),
    print_text = paste(capture.output(print(m)), collapse = "\n"),
    hessian = if (is.null(m@optinfo$derivs)) NULL else
      lapply(seq_len(nrow(m@optinfo$derivs$Hessian)), function(i) arr(m@optinfo$derivs$Hessian[i, ])),
    gradient = if (is.null(m@optinfo$derivs)) NULL else arr(m@optinfo$derivs$gradient)
  )
  m2 <- tryCatch(suppressWarnings(update(m, control = glmerControl(optimizer = "bobyqa",
                                                                  optCtrl = list(maxfun = 1e5)))),
                 error = function(e) NULL)
  if (!is.null(m2)) res$refit <- list(minus2loglik = -2 * as.numeric(logLik(m2)),
                                      theta = arr(getME(m2, "theta")), beta = arr(fixef(m2)))
  res
}
fits <- list()
models <- list()
add <- function(id, expr_text, data_name) {
  cat(sprintf("%-20s %s\n", id, expr_text))
  w <- character(0)
  m <- withCallingHandlers(eval(parse(text = expr_text)),
                           warning = function(cw) { w <<- c(w, conditionMessage(cw)); invokeRestart("muffleWarning") })
  r <- record(id, m, expr_text, data_name)
  r$r_warnings <- arr(unique(w))
  fits[[id]] <<- r
  models[[id]] <<- m
  invisible(m)
}

## ---- fits -------------------------------------------------------------------------------------
add("binom_log", 'glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp, family = binomial(link = "log"))', "cbpp")
add("pois_identity", 'glmer(ycnt ~ x + (1 | g), data = aud, family = poisson(link = "identity"))', "aud")
add("gamma_identity", 'glmer(ygi ~ x + (1 | g), data = aud, family = Gamma(link = "identity"))', "aud")
add("invgauss_canonical", 'glmer(yig ~ x + (1 | g), data = aud, family = inverse.gaussian)', "aud")
add("gaussian_inverse", 'glmer(ygau ~ x + (1 | g), data = glmmsim, family = gaussian(link = "inverse"))', "glmmsim")
add("pois_weights", 'glmer(ycnt ~ x + (1 | g), data = aud, family = poisson, weights = w)', "aud")
add("pois_subset", 'glmer(ycnt ~ x + (1 | g), data = aud, family = poisson, subset = x > 0)', "aud")
add("pois_na", 'glmer(ycnt ~ xna + (1 | g), data = aud, family = poisson)', "aud")
## nAGQ = 0 fits: lme4's first stage of the fits above (its theta is where PIRLS starts the second stage)
add("pois_identity_nagq0", 'glmer(ycnt ~ x + (1 | g), data = aud, family = poisson(link = "identity"), nAGQ = 0)', "aud")
add("pois_weights_nagq0", 'glmer(ycnt ~ x + (1 | g), data = aud, family = poisson, weights = w, nAGQ = 0)', "aud")
add("pois_na_nagq0", 'glmer(ycnt ~ xna + (1 | g), data = aud, family = poisson, nAGQ = 0)', "aud")
add("pois_start", 'glmer(ycnt ~ x + (1 | g), data = aud, family = poisson, start = list(theta = 0.5))', "aud")
add("binom_factor_ny", 'glmer(yfac_ny ~ x + (1 | g), data = aud, family = binomial)', "aud")
add("binom_factor_yn", 'glmer(yfac_yn ~ x + (1 | g), data = aud, family = binomial)', "aud")
add("cbpp_cbind", 'glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp, family = binomial)', "cbpp")
add("cbpp_null", 'glmer(cbind(incidence, size - incidence) ~ 1 + (1 | herd), data = cbpp, family = binomial)', "cbpp")
add("pois_offset", 'glmer(ypois ~ x + offset(log(expo)) + (1 | g), data = glmmsim, family = poisson)', "glmmsim")
add("gamma_log", 'glmer(ygam ~ x + (1 | g), data = glmmsim, family = Gamma(link = "log"))', "glmmsim")

## ---- extras: predict, confint, anova, drop1, errors ---------------------------------------------
df_records <- function(d) {
  list(rownames = arr(rownames(d)), columns = arr(colnames(d)),
       values = lapply(colnames(d), function(cl) arr(as.numeric(d[[cl]]))))
}
text_of <- function(x) paste(capture.output(print(x)), collapse = "\n")
extras <- list()

m <- models$cbpp_cbind
nd <- data.frame(period = factor(c("1", "2", "3", "4", "2"), levels = levels(cbpp$period)),
                 herd = factor(c("1", "5", "99", "15", "100"), levels = c(levels(cbpp$herd), "99", "100")),
                 incidence = 0, size = 1)
extras$predict_cbpp <- list(
  call = "predict(m, newdata = nd, ..., allow.new.levels = TRUE); nd: period 1,2,3,4,2; herd 1,5,99,15,100",
  period = arr(as.character(nd$period)), herd = arr(as.character(nd$herd)),
  link = arr(predict(m, newdata = nd, type = "link", allow.new.levels = TRUE)),
  response = arr(predict(m, newdata = nd, type = "response", allow.new.levels = TRUE)),
  pop_link = arr(predict(m, newdata = nd, type = "link", re.form = NA)),
  pop_response = arr(predict(m, newdata = nd, type = "response", re.form = ~0)),
  new_level_error = tryCatch({predict(m, newdata = nd); ""}, error = function(e) conditionMessage(e)))
m <- models$pois_offset
nd2 <- glmmsim[c(1, 50, 120, 399), c("g", "x", "expo")]
nd2$expo <- c(1, 2.5, 10, 4)
extras$predict_offset <- list(
  call = "predict(glmer(ypois ~ x + offset(log(expo)) + (1 | g)), newdata = glmmsim rows 1, 50, 120, 399 with expo 1, 2.5, 10, 4)",
  rows = arr(c(1, 50, 120, 399)), expo = arr(nd2$expo),
  link = arr(predict(m, newdata = nd2)), response = arr(predict(m, newdata = nd2, type = "response")),
  pop_response = arr(predict(m, newdata = nd2, type = "response", re.form = NA)))
m <- models$gamma_log
nd3 <- glmmsim[c(2, 3, 200), c("g", "x")]
extras$predict_gamma <- list(rows = arr(c(2, 3, 200)),
                             response = arr(predict(m, newdata = nd3, type = "response")),
                             pop_link = arr(predict(m, newdata = nd3, re.form = NA)))

for (id in c("cbpp_cbind", "gamma_log", "pois_identity")) {
  ci <- confint(models[[id]], method = "Wald")
  extras[[paste0("confint_wald_", id)]] <- c(list(call = sprintf("confint(m_%s, method = \"Wald\")", id)),
                                            df_records(as.data.frame(ci)), text = text_of(ci))
  ci90 <- confint(models[[id]], method = "Wald", level = 0.9)
  extras[[paste0("confint_wald90_", id)]] <- df_records(as.data.frame(ci90))
}
m0 <- models$cbpp_null; m1 <- models$cbpp_cbind
a <- anova(m0, m1)
extras$anova_cbpp <- c(list(call = "anova(m0, m1); m0 = cbpp_null, m1 = cbpp_cbind"), df_records(as.data.frame(a)),
                       text = text_of(a))
d1 <- drop1(models$cbpp_cbind, test = "Chisq")
extras$drop1_cbpp <- c(list(call = "drop1(m_cbpp_cbind, test = \"Chisq\")"), df_records(as.data.frame(d1)),
                       text = text_of(d1))
err <- function(expr) tryCatch({force(expr); ""}, error = function(e) conditionMessage(e))
## lme4 refuses drop1 when a reduced model would use other rows (missing values in a dropped column)
extras$drop1_pois_na_error <- err(drop1(models$pois_na, test = "Chisq"))
extras$nagq_errors <- list(
  vector_term = err(glmer(ycnt ~ x + (x | g), data = aud, family = poisson, nAGQ = 5)),
  two_terms = err(glmer(TICKS ~ YEAR + (1 | BROOD) + (1 | LOCATION), data = read_dataset("grouseticks"),
                        family = poisson, nAGQ = 5)))

## a link that does not keep the means in range: lme4's error
extras$link_errors <- list(
  binomial_log = err(glmer(ybin ~ x + (1 | g), data = glmmsim, family = binomial(link = "log"))),
  poisson_identity = err(glmer(ypois ~ x + (1 | g), data = glmmsim, family = poisson(link = "identity"))))

out <- list(versions = list(r_version = R.version.string, lme4_version = as.character(packageVersion("lme4")),
                            generated_by = "Rscript tests/r/make_glmm_audit_fixtures.R"),
            fits = fits, extras = extras)
write_fixture(out, file.path(FIX_DIR, "glmm_audit.json"))
cat("wrote tests/fixtures/glmm_audit.json\n")
