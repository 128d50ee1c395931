#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## make_glmm_nb_fixtures.R -- lme4::glmer.nb against lme4's own deviance function
##
## Run from the repository root:   Rscript tests/r/make_glmm_nb_fixtures.R
## (R 4.2.2, lme4 1.1.31, MASS)
##
## glmer.nb's reported -2 log L is the one its last refit stored; that refit started PIRLS from the
## previous fit, and lme4's Laplace deviance depends on where PIRLS starts (it stops at a relative change
## of 1e-7). The number to compare a fit with is lme4's deviance function of a fresh glmer() at that NB
## shape: update(glmer(f, family = MASS::negative.binomial(th)), devFunOnly = TRUE), evaluated at
## (theta, beta). For each case this records
##   reported           glmer.nb(f, data): NB theta, -2 log L as reported, theta, beta, optinfo$feval
##   devfun_at_lme4     lme4's deviance function at glmer.nb's shape, at glmer.nb's (theta, beta)
##   fresh_at_lme4      glmer(f, family = negative.binomial(th_lme4)): its -2 log L, theta, beta
##   ours / devfun_at_ours / fresh_at_ours   (when tests/fixtures/glmm_nb_ours.json exists: mm.glmer_nb's
##                      estimates, written by `python tests/glmm/nb_estimates.py`) the same function at
##                      our NB shape, evaluated at our (theta, beta), and a fresh glmer() at our shape
## Writes tests/fixtures/glmm_nb.json.
## The data are the bundled CSVs (grouseticks) and tests/fixtures/glmm_sim.csv (make_glmm_fixtures.R).
## ---------------------------------------------------------------------------
suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})
if (!file.exists(file.path("tests", "r", "make_glmm_nb_fixtures.R")))
  stop("run this script from the repository root")
source(file.path("tests", "r", "json_helpers.R"))
FIX_DIR <- file.path("tests", "fixtures")

grouseticks <- read_dataset("grouseticks")
glmmsim <- utils::read.csv(file.path(FIX_DIR, "glmm_sim.csv"), stringsAsFactors = FALSE)
glmmsim$g <- factor(glmmsim$g); glmmsim$h <- factor(glmmsim$h)

ours_path <- file.path(FIX_DIR, "glmm_nb_ours.json")
ours_all <- if (file.exists(ours_path)) jsonlite::read_json(ours_path, simplifyVector = TRUE) else list()

cases <- list(
  grouse_nb = list(formula = "TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | LOCATION)", data = "grouseticks"),
  negbin_sim = list(formula = "ynb ~ x + (1 | g)", data = "glmmsim")
)
q <- function(expr) suppressWarnings(suppressMessages(expr))
devfun_at_shape <- function(f, d, th) {
  g <- q(glmer(f, data = d, family = MASS::negative.binomial(th)))
  list(fit = g, dd = q(update(g, devFunOnly = TRUE)))
}
out <- list()
for (id in names(cases)) {
  cs <- cases[[id]]
  f <- as.formula(cs$formula)
  d <- get(cs$data)
  cat(id, "\n")
  m <- q(glmer.nb(f, data = d))
  th <- getME(m, "glmer.nb.theta")
  at <- devfun_at_shape(f, d, th)
  rec <- list(
    formula = cs$formula, data = cs$data,
    call = sprintf("glmer.nb(%s, data = %s)", cs$formula, cs$data),
    reported = list(nb_theta = th, minus2loglik = -2 * as.numeric(logLik(m)), theta = arr(getME(m, "theta")),
                    beta = arr(fixef(m)), beta_names = arr(names(fixef(m))), feval = m@optinfo$feval),
    devfun_at_lme4 = at$dd(c(getME(m, "theta"), fixef(m))),
    fresh_at_lme4 = list(minus2loglik = -2 * as.numeric(logLik(at$fit)), theta = arr(getME(at$fit, "theta")),
                         beta = arr(fixef(at$fit)), feval = at$fit@optinfo$feval)
  )
  o <- ours_all[[id]]
  if (!is.null(o)) {
    at2 <- devfun_at_shape(f, d, o$nb_theta)
    rec$ours <- list(nb_theta = o$nb_theta, theta = arr(o$theta), beta = arr(o$beta),
                     minus2loglik = o$minus2loglik)
    rec$devfun_at_ours <- at2$dd(c(o$theta, o$beta))
    rec$fresh_at_ours <- list(minus2loglik = -2 * as.numeric(logLik(at2$fit)),
                              theta = arr(getME(at2$fit, "theta")), beta = arr(fixef(at2$fit)))
  }
  out[[id]] <- rec
}
res <- list(versions = list(r_version = R.version.string, lme4_version = as.character(packageVersion("lme4")),
                            generated_by = "Rscript tests/r/make_glmm_nb_fixtures.R"),
            fits = out)
jsonlite::write_json(encode_doubles(res), file.path(FIX_DIR, "glmm_nb.json"), digits = NA, auto_unbox = TRUE,
                     pretty = TRUE, null = "null", na = "null", json_verbatim = TRUE)
cat("wrote tests/fixtures/glmm_nb.json\n")
