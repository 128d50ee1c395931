#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## make_glmm_profile_fixtures.R -- lme4's profile confidence intervals of glmer fits
##
## Run from the repository root:   Rscript tests/r/make_glmm_profile_fixtures.R
## (R 4.2.2, lme4 1.1.31)
##
## Writes tests/fixtures/glmm_profile.json: per fit the call, theta, fixef, -2 log L and
##   confint(m, method = "profile")            (level 0.95, lme4's defaults: oldNames = TRUE)
##   confint(m, method = "profile", level = 0.9)  (cbpp)
## and the profile table (as.data.frame(profile(m))) of the cbpp fit.
## ---------------------------------------------------------------------------
suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})
if (!file.exists(file.path("tests", "r", "make_glmm_profile_fixtures.R")))
  stop("run this script from the repository root")
source(file.path("tests", "r", "json_helpers.R"))

ci_record <- function(ci) list(rows = arr(rownames(ci)), lower = arr(unname(ci[, 1])),
                               upper = arr(unname(ci[, 2])))
fit_record <- function(m, call) list(call = call, theta = arr(getME(m, "theta")), beta = arr(unname(fixef(m))),
                                     m2ll = -2 * as.numeric(logLik(m)))

out <- list()

cbpp <- read_dataset("cbpp")
## glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp, family = binomial)
m1 <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp, family = binomial)
r1 <- fit_record(m1, "glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial)")
pr1 <- profile(m1)
r1$confint <- ci_record(confint(pr1))                      # = confint(m1, method = "profile")
r1$confint90 <- ci_record(confint(pr1, level = 0.9))
tab <- as.data.frame(pr1)
r1$profile <- list(par = arr(as.character(tab$.par)), zeta = arr(tab$.zeta),
                   value = arr(vapply(seq_len(nrow(tab)), function(i) tab[i, as.character(tab$.par[i])], 0)))
out$cbpp <- r1

grouse <- read_dataset("grouseticks")
## glmer(TICKS ~ YEAR + cHEIGHT + (1 | LOCATION), data = grouseticks, family = poisson)
m2 <- glmer(TICKS ~ YEAR + cHEIGHT + (1 | LOCATION), data = grouse, family = poisson)
r2 <- fit_record(m2, "glmer(TICKS ~ YEAR + cHEIGHT + (1 | LOCATION), grouseticks, poisson)")
r2$confint <- ci_record(confint(m2, method = "profile"))
out$grouse <- r2

jsonlite::write_json(encode_doubles(out), file.path("tests", "fixtures", "glmm_profile.json"), digits = NA,
                     auto_unbox = TRUE, pretty = TRUE, null = "null", na = "null", json_verbatim = TRUE)
