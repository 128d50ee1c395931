#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## make_modcomp_fixtures.R -- pbkrtest's KRmodcomp(largeModel, smallModel)
##
## Run from the repository root:   Rscript tests/r/make_modcomp_fixtures.R
##
## Writes tests/fixtures/modcomp.json: for each comparison the KRmodcomp
## statistics (stat, ndf, ddf, F.scaling, p.value, FstatU, p.valueU) and the
## printed text. Models fitted with a tight BOBYQA. R 4.2.2, lme4 1.1.31,
## pbkrtest 0.5.2.
## ---------------------------------------------------------------------------
suppressPackageStartupMessages({
  library(lme4)
  library(pbkrtest)
  library(jsonlite)
})
if (!file.exists(file.path("tests", "r", "make_modcomp_fixtures.R")))
  stop("run this script from the repository root")
options(width = 80, digits = 7)
source(file.path("tests", "r", "json_helpers.R"))  # fmt_num, encode_doubles, arr, read_dataset
DATA_DIR <- file.path("mixedmodels", "datasets", "data")
sleepstudy <- read_dataset("sleepstudy")
Oats <- read_dataset("Oats")
TIGHT <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5))
printed <- function(x) paste(capture.output(print(x)), collapse = "\n")
cases <- list(
  list(id = "sleep_quadratic", data = "sleepstudy",
       large = "Reaction ~ Days + I(Days^2) + (Days | Subject)", small = "Reaction ~ (Days | Subject)"),
  list(id = "sleep_L", data = "sleepstudy",
       large = "Reaction ~ Days + I(Days^2) + (Days | Subject)", L = c(0, 1, 0)),
  list(id = "oats_interaction", data = "Oats",
       large = "yield ~ factor(nitro) * Variety + (1 | Block/Variety)",
       small = "yield ~ factor(nitro) + Variety + (1 | Block/Variety)")
)
out <- lapply(cases, function(cs) {
  d <- get(cs$data)
  ## KRmodcomp(lmer(LARGE, d, control = TIGHT), lmer(SMALL, d, control = TIGHT)) or (.., L)
  ml <- lmer(as.formula(cs$large), d, control = TIGHT)
  small <- if (!is.null(cs$small)) lmer(as.formula(cs$small), d, control = TIGHT) else matrix(cs$L, nrow = 1)
  k <- KRmodcomp(ml, small)
  s <- k$stats
  c(cs, list(stat = s$Fstat, ndf = s$ndf, ddf = s$ddf, F_scaling = s$F.scaling, p_value = s$p.value,
             FstatU = s$FstatU, p_valueU = s$p.valueU, text = printed(k)))
})
## PBmodcomp(m1, m0, nsim = 50): its LRT and chi-square p-value (deterministic; the bootstrap p-value
## depends on R's random numbers and is not recorded)
m1 <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy, control = TIGHT)
m0 <- lmer(Reaction ~ (Days | Subject), sleepstudy, control = TIGHT)
set.seed(1)
pb <- suppressWarnings(PBmodcomp(m1, m0, nsim = 50))$test
pb_ref <- list(large = "Reaction ~ Days + (Days | Subject)", small = "Reaction ~ (Days | Subject)",
               LRT = pb["LRT", "stat"], df = pb["LRT", "df"], p_chisq = pb["LRT", "p.value"])
writeLines(jsonlite::toJSON(encode_doubles(list(generated_by = "tests/r/make_modcomp_fixtures.R", pb = pb_ref,
                                                versions = list(R = R.version.string,
                                                                pbkrtest = as.character(packageVersion("pbkrtest"))),
                                                cases = out)),
                            auto_unbox = TRUE, pretty = TRUE, null = "null", na = "null",
                            json_verbatim = TRUE, digits = NA),
           file.path("tests", "fixtures", "modcomp.json"))
cat("wrote tests/fixtures/modcomp.json\n")
