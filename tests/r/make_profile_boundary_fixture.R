#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## make_profile_boundary_fixture.R -- the profile interval of a correlation
## estimated at -1 (a singular fit), by brute force.
##
## Run from the repository root:   Rscript tests/r/make_profile_boundary_fixture.R
##
## Writes tests/fixtures/chickweight.csv (datasets::ChickWeight) and
## tests/fixtures/profile_boundary.json: for
##   lmer(weight ~ Time + Diet + (Time | Chick), ChickWeight, subset = Time <= 12)
## whose correlation is -1, the upper 95% profile bound of the correlation
## found by brute force: the root in cor of the ML deviance (lme4:::devfun2,
## the other parameters re-optimized by a tight BOBYQA from several starts)
## minus the optimum minus qchisq(0.95, 1). lme4's confint() gives -0.946 here,
## its spline stepping off the boundary being coarse. R 4.2.2, lme4 1.1.31,
## nloptr.
## ---------------------------------------------------------------------------
suppressMessages({library(lme4); library(jsonlite)})
if (!file.exists(file.path("tests", "r", "make_profile_boundary_fixture.R")))
  stop("run this script from the repository root")
cw <- as.data.frame(ChickWeight)
cw <- data.frame(weight = cw$weight, Time = cw$Time, Chick = as.character(cw$Chick), Diet = as.character(cw$Diet))
write.csv(cw, file.path("tests", "fixtures", "chickweight.csv"), row.names = FALSE)
cw$Chick <- factor(cw$Chick); cw$Diet <- factor(cw$Diet)
TIGHT <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5))
m <- lmer(weight ~ Time + Diet + (Time | Chick), cw, subset = Time <= 12, control = TIGHT)
dd <- lme4:::devfun2(m, useSc = TRUE, signames = FALSE)
opt <- attr(dd, "optimum"); base <- attr(dd, "basedev")
excess <- function(k, val) {
  f <- function(p) { full <- opt[1:4]; full[-k] <- p; full[k] <- val; dd(full) }
  lo <- c(0, -1, 0, 0)[-k]; up <- c(Inf, 1, Inf, Inf)[-k]
  best <- Inf
  for (s in list(opt[1:4][-k], c(5, 1, 7), c(5, 0.5, 7), c(3, 3, 7))) {
    s <- pmin(pmax(s, lo), up)
    o <- nloptr::nloptr(s, f, lb = lo, ub = up,
                        opts = list(algorithm = "NLOPT_LN_BOBYQA", xtol_rel = 1e-12, maxeval = 1e5))
    best <- min(best, o$objective)
  }
  best - base - qchisq(0.95, 1)
}
upper <- uniroot(function(v) excess(2, v), c(-0.999, -0.9), tol = 1e-10)$root
cor_estimate <- unname(opt[2])
## the same model with prior weights w = 1 + (row number %% 3) / 2: the upper profile bound of
## sd_Time by the same brute force (the inner optimization must not stall at the correlation's -1)
cw$w <- 1 + (seq_len(nrow(cw)) %% 3) / 2
mw <- lmer(weight ~ Time + Diet + (Time | Chick), cw, subset = Time <= 12, weights = w, control = TIGHT)
dd <- lme4:::devfun2(mw, useSc = TRUE, signames = FALSE)
opt <- attr(dd, "optimum"); base <- attr(dd, "basedev")
sd_upper_w <- uniroot(function(v) excess(3, v), c(opt[3] * 1.01, opt[3] * 2), tol = 1e-10)$root
writeLines(toJSON(list(generated_by = "tests/r/make_profile_boundary_fixture.R", R = R.version.string,
                       formula = "weight ~ Time + Diet + (Time | Chick)", subset = "Time <= 12",
                       weights = "1 + (row number %% 3) / 2", sd_time_upper_weighted_bruteforce = sd_upper_w,
                       cor_estimate = cor_estimate, cor_upper_bruteforce = upper,
                       cor_upper_lme4_confint = suppressWarnings(suppressMessages(
                         confint(m, parm = 2, oldNames = FALSE)))[1, 2]),
                  auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path("tests", "fixtures", "profile_boundary.json"))
cat("wrote tests/fixtures/profile_boundary.json\n")
