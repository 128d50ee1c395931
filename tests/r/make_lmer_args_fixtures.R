#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## make_lmer_args_fixtures.R -- lme4 / lmerTest references for lmer()'s other
## arguments: weights, subset, offset (and start)
##
## Run from the repository root (after make_fixtures.R has exported the data):
##
##     Rscript tests/r/make_lmer_args_fixtures.R
##
## Writes tests/fixtures/lmer_args.json. The data are sleepstudy with two
## derived columns, w = Days %% 3 + 1 (prior weights) and o = Days / 10 (an
## offset); the tests rebuild them the same way. For each call: the criterion,
## theta, sigma, fixef, Pearson and response residuals, the printed summary,
## lmerTest's Satterthwaite coefficient table and ranova(). Each call is run with
## control = TIGHT appended (a tight BOBYQA: lme4's default stops ~1e-4 short in
## theta on these), so the summaries carry a "Control:" line the tests remove.
## R 4.2.2, lme4 1.1.31, lmerTest 3.1.3.
## ---------------------------------------------------------------------------

suppressPackageStartupMessages({
  library(lmerTest)
  library(jsonlite)
})
if (!file.exists(file.path("tests", "r", "make_lmer_args_fixtures.R")))
  stop("run this script from the repository root")
options(width = 80, digits = 7)
DATA_DIR <- file.path("mixedmodels", "datasets", "data")
OUT <- file.path("tests", "fixtures", "lmer_args.json")
source(file.path("tests", "r", "json_helpers.R"))

levels_json <- jsonlite::read_json(file.path(DATA_DIR, "levels.json"), simplifyVector = TRUE)
d <- utils::read.csv(file.path(DATA_DIR, "sleepstudy.csv"), colClasses = c(Subject = "character"))
d$Subject <- factor(d$Subject, levels = levels_json$sleepstudy$Subject)
d$w <- d$Days %% 3 + 1
d$o <- d$Days / 10

printed <- function(x) paste(capture.output(print(x)), collapse = "\n")
calls <- c(
  'lmer(Reaction ~ Days + (Days | Subject), data = d, weights = w)',
  'lmer(Reaction ~ Days + (Days | Subject), data = d, weights = w, REML = FALSE)',
  'lmer(Reaction ~ Days + (Days | Subject), data = d, subset = Days >= 2)',
  'lmer(Reaction ~ Days + (1 | Subject), data = d, offset = o)',
  'lmer(Reaction ~ Days + (1 | Subject), data = d, weights = w, subset = Days != 5, offset = o)'
)
TIGHT <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5))
cases <- lapply(calls, function(cl) {
  m <- eval(parse(text = sub(")$", ", control = TIGHT)", cl))[[1L]])
  ct <- coef(summary(m))
  list(call = cl,
       objective = if (isREML(m)) REMLcrit(m) else deviance(m), reml = isREML(m),
       theta = I(as.double(getME(m, "theta"))), sigma = sigma(m), fixef = I(as.double(fixef(m))),
       nobs = nobs(m),
       resid_pearson = I(as.double(residuals(m, type = "pearson"))),
       resid_response = I(as.double(residuals(m))),
       satterthwaite_df = I(as.double(ct[, "df"])), se = I(as.double(ct[, "Std. Error"])),
       summary_text = printed(summary(m, ddf = "lme4")),
       ranova_text = printed(ranova(m)),
       ranova_loglik = I(as.double(ranova(m)$logLik)),
       ## confint(m, parm = "theta_", oldNames = FALSE): profile intervals of the sd/cor parameters and
       ## sigma (R's fixed-effect profile intervals with weights are broken: "non-monotonic profile",
       ## an interval of width 0.8 around the intercept where Wald's is 28 wide, so they are not used)
       confint_theta = {
         ci <- suppressWarnings(suppressMessages(confint(m, parm = "theta_", oldNames = FALSE)))
         list(rows = arr(rownames(ci)), lower = I(as.double(ci[, 1])), upper = I(as.double(ci[, 2])))
       })
})
## subset expressions with R's logical operators:
## lmer(Reaction ~ Days + (1 | Subject), data = d, subset = EXPR): nobs and REMLcrit
subset_exprs <- c("Days < 2 | Days > 7", "Days %in% c(0, 1, 2)", "xor(Days > 2, Days > 5)",
                  "!(Days %in% 3:5) & Subject != \"308\"")
subset_cases <- lapply(subset_exprs, function(e) {
  m <- eval(parse(text = paste0("lmer(Reaction ~ Days + (1 | Subject), data = d, subset = ", e,
                                ", control = TIGHT)"))[[1L]])
  list(subset = e, nobs = nobs(m), objective = REMLcrit(m))
})
res <- list(generated_by = "tests/r/make_lmer_args_fixtures.R",
            versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                            lmerTest = as.character(packageVersion("lmerTest"))),
            cases = cases, subset_cases = subset_cases)
writeLines(jsonlite::toJSON(encode_doubles(res), auto_unbox = TRUE, pretty = TRUE, null = "null",
                            na = "null", json_verbatim = TRUE, digits = NA), OUT)
cat("wrote", OUT, "\n")
