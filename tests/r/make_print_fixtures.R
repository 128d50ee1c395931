#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## make_print_fixtures.R -- lme4's print options
##
## Run from the repository root:   Rscript tests/r/make_print_fixtures.R
##
## Writes tests/fixtures/print_options.json: the text of print(summary(m), ...)
## and print(m, ...) with R's options (digits, correlation, ranef.comp,
## signif.stars, show.resids) for two sleepstudy fits. R 4.2.2, lme4 1.1.31.
## ---------------------------------------------------------------------------
suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})
if (!file.exists(file.path("tests", "r", "make_print_fixtures.R")))
  stop("run this script from the repository root")
options(width = 80, digits = 7)
DATA_DIR <- file.path("mixedmodels", "datasets", "data")
levels_json <- jsonlite::read_json(file.path(DATA_DIR, "levels.json"), simplifyVector = TRUE)
sleepstudy <- utils::read.csv(file.path(DATA_DIR, "sleepstudy.csv"), colClasses = c(Subject = "character"))
sleepstudy$Subject <- factor(sleepstudy$Subject, levels = levels_json$sleepstudy$Subject)
TIGHT <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5))
printed <- function(expr) paste(capture.output(expr), collapse = "\n")
fits <- list(
  slope = lmer(Reaction ~ Days + (Days | Subject), sleepstudy, control = TIGHT),
  ml = lmer(Reaction ~ Days + I(Days^2) + (1 | Subject), sleepstudy, REML = FALSE, control = TIGHT))
calls <- c('print(summary(m), digits = 3)',
           'print(summary(m), correlation = TRUE, digits = 4)',
           'print(summary(m), ranef.comp = "Variance")',
           'print(summary(m), show.resids = FALSE, correlation = FALSE)',
           'print(m, digits = 3)',
           'print(m, ranef.comp = c("Variance", "Std.Dev."))')
out <- lapply(names(fits), function(nm) {
  m <- fits[[nm]]
  list(id = nm, outputs = lapply(calls, function(cl) list(call = cl, text = printed(eval(parse(text = cl)[[1L]])))))
})
writeLines(jsonlite::toJSON(list(generated_by = "tests/r/make_print_fixtures.R",
                                 versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4"))),
                                 fits = out), auto_unbox = TRUE, pretty = TRUE),
           file.path("tests", "fixtures", "print_options.json"))
cat("wrote tests/fixtures/print_options.json\n")
