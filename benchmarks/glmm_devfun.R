## lme4's own Laplace deviance function at given (theta, beta):
##   Rscript benchmarks/glmm_devfun.R PARAMS.json
## PARAMS.json (written by `python -m benchmarks.glmm --explain`): for each case its data set, formula and
## family, and named parameter vectors {"label": {"theta": [...], "beta": [...]}} (theta in lme4's order).
## For each case: glmer() at lme4's defaults, then update(m, devFunOnly = TRUE) (the stage-two deviance
## function of (theta, beta), started where lme4's stage one ended, as glmer's own optimizer sees it)
## evaluated at lme4's optimum and at every given vector. Prints one JSON line.
suppressPackageStartupMessages({ library(lme4); library(jsonlite) })
source(file.path("tests", "r", "json_helpers.R"))
spec <- fromJSON(commandArgs(TRUE)[1], simplifyVector = FALSE)
out <- list()
for (nm in names(spec)) {
  s <- spec[[nm]]
  d <- read_dataset(s$data)
  f <- as.formula(s$formula)
  m <- suppressWarnings(glmer(f, data = d, family = get(s$family)))
  dd <- suppressWarnings(update(m, devFunOnly = TRUE))
  res <- list(lme4_optimum = -2 * as.numeric(logLik(m)),
              lme4_devfun_at_optimum = dd(c(getME(m, "theta"), fixef(m))),
              lme4_theta = as.list(getME(m, "theta")), lme4_beta = as.list(fixef(m)))
  for (lab in names(s$at)) {
    p <- s$at[[lab]]
    res[[paste0("devfun_at_", lab)]] <- dd(c(unlist(p$theta), unlist(p$beta)))
  }
  out[[nm]] <- res
}
cat(toJSON(out, auto_unbox = TRUE, digits = NA), "\n")
