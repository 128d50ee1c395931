#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## make_profile_level_fixture.R -- profile intervals at a level beyond lme4's
## default profile (alphamax = 0.01).
##
## Run from the repository root:   Rscript tests/r/make_profile_level_fixture.R
##
## Writes tests/fixtures/profile_level.json for
##   fm1 <- lmer(Yield ~ 1 + (1 | Batch), Dyestuff)
## * confint(fm1, level = 0.9999): what lme4 returns (its profile stops at
##   alphamax = 0.01, so the limits are the bounds 0 / Inf and NA, silently);
## * confint(profile(fm1, alphamax = (1 - 0.9999) / 2), level = 0.9999): the
##   profile extended far enough for the level (what mixedmodels returns).
## R 4.2.2, lme4 1.1.31.
## ---------------------------------------------------------------------------
suppressMessages({library(lme4); library(jsonlite)})
if (!file.exists(file.path("tests", "r", "make_profile_level_fixture.R")))
  stop("run this script from the repository root")
fm1 <- lmer(Yield ~ 1 + (1 | Batch), Dyestuff)
level <- 0.9999
lme4_default <- suppressMessages(confint(fm1, level = level))
extended <- confint(profile(fm1, alphamax = (1 - level) / 2), level = level)
## a number, or "NA" / "Inf" (JSON has neither)
cell <- function(v) if (is.na(v)) "NA" else if (is.infinite(v)) "Inf" else v
num <- function(m) lapply(seq_len(nrow(m)), function(i) lapply(unname(m[i, ]), cell))
out <- list(
  generated_by = "tests/r/make_profile_level_fixture.R",
  R = R.version.string, lme4 = as.character(packageVersion("lme4")),
  formula = "Yield ~ 1 + (1 | Batch)", data = "Dyestuff", level = level,
  rows = rownames(extended),
  confint_default = num(lme4_default),
  confint_extended = num(extended)
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path("tests", "fixtures", "profile_level.json"))
