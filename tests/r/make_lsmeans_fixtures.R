#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## make_lsmeans_fixtures.R -- lmerTest references for ls_means() / difflsmeans()
##
## Run from the repository root (after make_fixtures.R has exported the data):
##
##     Rscript tests/r/make_lsmeans_fixtures.R
##
## Writes tests/fixtures/lsmeans.json: for each model, the calls below with
## their row names, values (Estimate, Std. Error, df, t value, lower, upper,
## Pr(>|t|)), the contrast matrices (attr "hypotheses") and the printed text.
## Models are fitted with a tight optimizer control (TIGHT) so the fifth digit
## is the optimum's. Factor columns made here (Oats$N = factor(nitro),
## sleepstudy$Dayf = factor(Days)) are rebuilt the same way by the tests.
## R 4.2.2, lme4 1.1.31, lmerTest 3.1.3, pbkrtest 0.5.2.
## ---------------------------------------------------------------------------

suppressPackageStartupMessages({
  library(lmerTest)
  library(jsonlite)
})
if (!file.exists(file.path("tests", "r", "make_lsmeans_fixtures.R")))
  stop("run this script from the repository root")
options(width = 80, digits = 7)

DATA_DIR <- file.path("mixedmodels", "datasets", "data")
OUT <- file.path("tests", "fixtures", "lsmeans.json")
source(file.path("tests", "r", "json_helpers.R"))  # fmt_num, encode_doubles, arr, read_dataset

Oats <- read_dataset("Oats")
Oats$N <- factor(Oats$nitro)
## a missing cell: no plot with N = 0.6 on Victory (N:Variety then rank deficient)
OatsMiss <- Oats[!(Oats$N == "0.6" & Oats$Variety == "Victory"), ]
Orthodont <- read_dataset("Orthodont")
sleepstudy <- read_dataset("sleepstudy")
sleepstudy$Dayf <- factor(sleepstudy$Days)

printed <- function(x) paste(capture.output(print(x)), collapse = "\n")
lsm_json <- function(call_text, env) {
  tab <- eval(parse(text = call_text)[[1L]], envir = env)
  hyp <- attr(tab, "hypotheses")
  list(call = call_text, rows = arr(rownames(tab)), columns = arr(colnames(tab)),
       values = lapply(colnames(tab), function(cn) I(as.double(tab[[cn]]))),
       hypotheses = lapply(hyp, function(L) list(rows = arr(rownames(L)), columns = arr(colnames(L)),
                                                 values = lapply(seq_len(nrow(L)), function(i) I(as.double(L[i, ]))))),
       text = printed(tab))
}

TIGHT <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5))
cases <- list(
  list(id = "oats_numeric_nitro", data = "Oats", formula = "yield ~ nitro * Variety + (1 | Block/Variety)",
       calls = c("ls_means(m)", "difflsmeans(m)")),
  list(id = "oats_factor_N", data = "Oats", formula = "yield ~ N * Variety + (1 | Block/Variety)",
       calls = c("ls_means(m)", "difflsmeans(m, which = \"Variety\")",
                 "ls_means(m, which = \"N:Variety\", ddf = \"Kenward-Roger\")",
                 "ls_means(m, which = \"N\", level = 0.9)")),
  list(id = "oats_missing_cell", data = "OatsMiss", formula = "yield ~ N * Variety + (1 | Block/Variety)",
       calls = c("ls_means(m)")),
  list(id = "orthodont_sex", data = "Orthodont", formula = "distance ~ age * Sex + (age | Subject)",
       calls = c("ls_means(m)", "difflsmeans(m)")),
  list(id = "sleepstudy_dayf", data = "sleepstudy", formula = "Reaction ~ Dayf + (1 | Subject)",
       calls = c("ls_means(m)", "difflsmeans(m)"))
)

models <- lapply(cases, function(cs) {
  env <- new.env(parent = globalenv())
  ## m <- lmer(FORMULA, data = DATA, control = TIGHT)
  m <- suppressWarnings(eval(bquote(lmer(.(as.formula(cs$formula)), data = .(as.name(cs$data)),
                                         control = TIGHT))))
  assign("m", m, envir = env)
  c(cs[c("id", "data", "formula")], list(results = lapply(cs$calls, lsm_json, env = env)))
})

res <- list(
  generated_by = "tests/r/make_lsmeans_fixtures.R",
  versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                  lmerTest = as.character(packageVersion("lmerTest")),
                  pbkrtest = as.character(packageVersion("pbkrtest"))),
  models = models)
writeLines(jsonlite::toJSON(encode_doubles(res), auto_unbox = TRUE, pretty = TRUE, null = "null",
                            na = "null", json_verbatim = TRUE, digits = NA), OUT)
cat("wrote", OUT, "\n")
