#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## make_step_fixtures.R -- lmerTest's step() (backward elimination)
##
## Run from the repository root:   Rscript tests/r/make_step_fixtures.R
##
## Writes tests/fixtures/step.json: for each model, print(step(m)) and the
## formula found. Fitted with a tight BOBYQA (TIGHT), which step()'s refits
## keep. R 4.2.2, lme4 1.1.31, lmerTest 3.1.3.
## ---------------------------------------------------------------------------
suppressPackageStartupMessages({library(lmerTest); library(jsonlite)})
if (!file.exists(file.path("tests", "r", "make_step_fixtures.R")))
  stop("run this script from the repository root")
options(width = 80, digits = 7)
source(file.path("tests", "r", "json_helpers.R"))  # read_dataset
Oats <- read_dataset("Oats")
sleepstudy <- read_dataset("sleepstudy")
TIGHT <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5))
cases <- list(
  list(id = "oats", data = "Oats", formula = "yield ~ factor(nitro) * Variety + (1 | Block/Variety)",
       call = "step(m)"),
  list(id = "sleep_quadratic", data = "sleepstudy",
       formula = "Reaction ~ Days + I(Days^2) + (Days | Subject)", call = "step(m)"),
  list(id = "sleep_keep", data = "sleepstudy",
       formula = "Reaction ~ Days + I(Days^2) + (Days | Subject)", call = "step(m, keep = \"I(Days^2)\")"),
  list(id = "oats_alpha", data = "Oats", formula = "yield ~ factor(nitro) * Variety + (1 | Block/Variety)",
       call = "step(m, alpha.random = 0.01, alpha.fixed = 0.3)")
)
out <- lapply(cases, function(cs) {
  ## m <- lmer(FORMULA, data = DATA, control = TIGHT); print(CALL)
  m <- eval(bquote(lmer(.(as.formula(cs$formula)), data = .(as.name(cs$data)), control = TIGHT)))
  s <- eval(parse(text = cs$call)[[1L]])
  c(cs, list(text = paste(capture.output(print(s)), collapse = "\n"),
             found = paste(deparse(formula(get_model(s)), width.cutoff = 500L), collapse = " ")))
})
writeLines(toJSON(list(generated_by = "tests/r/make_step_fixtures.R", R = R.version.string,
                       lmerTest = as.character(packageVersion("lmerTest")), cases = out),
                  auto_unbox = TRUE, pretty = TRUE), file.path("tests", "fixtures", "step.json"))
cat("wrote tests/fixtures/step.json\n")
