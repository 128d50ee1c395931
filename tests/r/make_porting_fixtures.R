#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## make_porting_fixtures.R -- R references for porting an R script verbatim:
## read.csv semantics, anova() of models R compares, offset expressions,
## confint() row names.
##
## Run from the repository root:
##
##     Rscript tests/r/make_porting_fixtures.R
##
## R 4.2.2, lme4 1.1.31, lmerTest 3.1.3, nlme 3.1.162 (versions are also
## written into the JSON).
##
## Reads (hand-written, committed):
##   tests/fixtures/porting_tricky.csv      R's read.csv() defaults
##   tests/fixtures/porting_semicolon.csv   read.csv(sep = ";", dec = ",")
##   tests/fixtures/porting_rownames.csv    a header one field short (row names)
## Writes:
##   tests/fixtures/alfalfa.csv             nlme::Alfalfa (its Date has a level "None")
##   tests/fixtures/tvbo.csv                lmerTest::TVbo (the columns ?ranova uses)
##   tests/fixtures/bodyweight.csv          nlme::BodyWeight
##   tests/fixtures/porting.json            the references below
## Every model is fitted on the data as RE-READ with read.csv() from those
## files, in global variables named as the Python tests name the data, so the
## printed "Data:" lines agree. Fits use a tight BOBYQA (control = TIGHT; lme4's
## default stops ~1e-5 short on some of these); the summaries then carry a
## "Control:" line that the tests remove.
## ---------------------------------------------------------------------------

suppressPackageStartupMessages({
  library(lme4)          # attached: `lmer` in the recorded calls is lme4::lmer
  library(jsonlite)
})
stopifnot(requireNamespace("lmerTest", quietly = TRUE), requireNamespace("nlme", quietly = TRUE))
if (!file.exists(file.path("tests", "r", "make_porting_fixtures.R")))
  stop("run this script from the repository root")
options(width = 80, digits = 7)
source(file.path("tests", "r", "json_helpers.R"))
FIX <- file.path("tests", "fixtures")
printed <- function(x) paste(capture.output(print(x)), collapse = "\n")
TIGHT <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5))

## --------------------------------------------------------------- read.csv
## For each column of read.csv(...): its class, its values as text (NA -> null) and, for a character
## column, the levels factor() gives it (R's sort order).
describe <- function(df) {
  lapply(setNames(names(df), names(df)), function(nm) {
    x <- df[[nm]]
    list(class = class(x)[1],
         values = arr(ifelse(is.na(x) & !is.nan(x), NA_character_,
                             if (is.double(x)) fmt_num_inf(x) else as.character(x))),
         levels = if (is.character(x) || is.factor(x)) arr(levels(factor(x))) else NULL,
         ordered = is.ordered(x))
  })
}
## doubles as exact text, keeping Inf / -Inf / NaN (fmt_num writes them as null)
fmt_num_inf <- function(x) {
  out <- fmt_num(x)
  out[is.nan(x)] <- "NaN"
  out[x == Inf & !is.na(x)] <- "Inf"
  out[x == -Inf & !is.na(x)] <- "-Inf"
  out
}
tricky_path <- file.path(FIX, "porting_tricky.csv")
semi_path <- file.path(FIX, "porting_semicolon.csv")
read_cases <- list(
  list(call = 'read.csv("porting_tricky.csv")',
       columns = describe(read.csv(tricky_path)), names = arr(names(read.csv(tricky_path)))),
  list(call = 'read.csv("porting_tricky.csv", na.strings = c("NA", "None", ""))',
       columns = describe(read.csv(tricky_path, na.strings = c("NA", "None", "")))),
  list(call = 'read.csv("porting_tricky.csv", check.names = FALSE)',
       names = arr(names(read.csv(tricky_path, check.names = FALSE)))),
  list(call = 'read.csv("porting_semicolon.csv", sep = ";", dec = ",")',
       columns = describe(read.csv(semi_path, sep = ";", dec = ","))),
  list(call = 'read.csv("porting_semicolon.csv", sep = ";")',
       columns = describe(read.csv(semi_path, sep = ";"))),
  list(call = 'read.csv("porting_tricky.csv", colClasses = c(n = "numeric", big = "character", level = "factor"))',
       columns = describe(read.csv(tricky_path, colClasses = c(n = "numeric", big = "character",
                                                                 level = "factor"))))
)
## a header one field short: the first column gives the row names
rn_path <- file.path(FIX, "porting_rownames.csv")
rownames_case <- list(call = 'read.csv("porting_rownames.csv")',
                      columns = describe(read.csv(rn_path)), row_names = arr(rownames(read.csv(rn_path))))
## factor(levels =) and ordered(): factor(d$dose, levels = c("low", "medium", "high")) and friends
d_tricky <- read.csv(tricky_path)
factor_cases <- list(
  list(call = 'factor(dose, levels = c("low", "medium", "high"))',
       codes = arr(as.integer(factor(d_tricky$dose, levels = c("low", "medium", "high")))),
       levels = arr(c("low", "medium", "high")), ordered = FALSE),
  list(call = 'factor(dose, levels = c("low", "high"))',   # "medium" becomes NA
       codes = arr(as.integer(factor(d_tricky$dose, levels = c("low", "high")))),
       levels = arr(c("low", "high")), ordered = FALSE),
  list(call = 'ordered(dose)',
       codes = arr(as.integer(ordered(d_tricky$dose))), levels = arr(levels(ordered(d_tricky$dose))),
       ordered = TRUE),
  list(call = 'factor(n, levels = c(6, 5, 4, 2, 1))',
       codes = arr(as.integer(factor(d_tricky$n, levels = c(6, 5, 4, 2, 1)))),
       levels = arr(c("6", "5", "4", "2", "1")), ordered = FALSE)
)
## make.names(unique = TRUE) of awkward headers
raw_names <- c("my col", "1x", "", "a", "a", "if", "_x", "a-b", ".5", "..", "x.1", "x", "x", "TRUE", "É t")
make_names_case <- list(input = arr(raw_names), output = arr(make.names(raw_names, unique = TRUE)))

## --------------------------------------------------------------- Alfalfa (nlme): a level spelled "None"
## exported with write.csv (as R users do); re-read with read.csv, stringsAsFactors = FALSE
write.csv(as.data.frame(nlme::Alfalfa), file.path(FIX, "alfalfa.csv"), row.names = FALSE)
alfalfa <- read.csv(file.path(FIX, "alfalfa.csv"))
m_alf <- lmer(Yield ~ Date * Variety + (1 | Block/Variety), data = alfalfa, control = TIGHT)
m_alf_lt <- lmerTest::as_lmerModLmerTest(m_alf)
alfalfa_lv <- alfalfa
alfalfa_lv$Date <- factor(alfalfa_lv$Date, levels = c("None", "S1", "S20", "O7"))
m_alf_lv <- lmer(Yield ~ Date * Variety + (1 | Block/Variety), data = alfalfa_lv, control = TIGHT)
ci_fun <- function(ci) list(rows = arr(rownames(ci)), columns = arr(colnames(ci)),
                            lower = I(as.double(ci[, 1])), upper = I(as.double(ci[, 2])),
                            text = printed(ci))
alfalfa_case <- list(
  nrow_read = nrow(alfalfa), date_levels_read = arr(levels(factor(alfalfa$Date))),
  call = "lmer(Yield ~ Date * Variety + (1 | Block/Variety), data = alfalfa)",
  nobs = nobs(m_alf), objective = REMLcrit(m_alf), theta = I(as.double(getME(m_alf, "theta"))),
  fixef_names = arr(names(fixef(m_alf))), fixef = I(as.double(fixef(m_alf))),
  summary_text = printed(summary(m_alf)),
  anova_text = printed(anova(m_alf_lt)),
  ## factor(Date, levels = c("None", "S1", "S20", "O7")) as nlme has it
  levels_call = 'alfalfa$Date <- factor(alfalfa$Date, levels = c("None", "S1", "S20", "O7"))',
  levels_fixef_names = arr(names(fixef(m_alf_lv))), levels_fixef = I(as.double(fixef(m_alf_lv))),
  levels_objective = REMLcrit(m_alf_lv),
  ## confint(m_alf, method = "Wald") and confint(m_alf) (profile), oldNames TRUE (default) and FALSE
  confint_wald = ci_fun(confint(m_alf, method = "Wald")),
  confint_profile = ci_fun(suppressMessages(confint(m_alf))),
  confint_profile_newnames = ci_fun(suppressMessages(confint(m_alf, oldNames = FALSE)))
)

## --------------------------------------------------------------- sleepstudy: confint row names
sleepstudy <- read_dataset("sleepstudy")
m_sleep <- lmer(Reaction ~ Days + (Days | Subject), data = sleepstudy, control = TIGHT)
sleep_case <- list(
  call = "lmer(Reaction ~ Days + (Days | Subject), data = sleepstudy)",
  confint_wald = ci_fun(confint(m_sleep, method = "Wald")),
  confint_wald_newnames = ci_fun(confint(m_sleep, method = "Wald", oldNames = FALSE)),
  confint_profile = ci_fun(suppressMessages(confint(m_sleep))),
  ## confint(m_sleep, method = "boot", nsim = 20): only the row names (random draws differ)
  confint_boot_rows = arr(rownames(suppressWarnings(suppressMessages(
    confint(m_sleep, method = "boot", nsim = 20)))))
)

## --------------------------------------------------------------- TVbo (lmerTest ?ranova): anova(fm, fm2)
tv <- lmerTest::TVbo[, c("Assessor", "TVset", "Repeat", "Picture", "Coloursaturation")]
write.csv(tv, file.path(FIX, "tvbo.csv"), row.names = FALSE)
TVbo <- read.csv(file.path(FIX, "tvbo.csv"),
                 colClasses = c(Assessor = "factor", Repeat = "factor", Picture = "factor"))
fm <- lmer(Coloursaturation ~ TVset * Picture + (TVset | Assessor), data = TVbo, control = TIGHT)
fm2 <- lmer(Coloursaturation ~ TVset * Picture + (1 | TVset:Assessor), data = TVbo, control = TIGHT)
an_tab <- function(a) list(rows = arr(rownames(a)), columns = arr(colnames(a)),
                           values = lapply(seq_len(ncol(a)), function(j) I(as.double(a[[j]]))),
                           text = printed(a))
a_norefit <- anova(fm, fm2, refit = FALSE)
a_refit <- suppressMessages(anova(fm, fm2))
tvbo_case <- list(
  calls = arr(c("fm <- lmer(Coloursaturation ~ TVset * Picture + (TVset | Assessor), data = TVbo)",
                "fm2 <- lmer(Coloursaturation ~ TVset * Picture + (1 | TVset:Assessor), data = TVbo)")),
  objectives = I(c(REMLcrit(fm), REMLcrit(fm2))),
  anova_norefit = an_tab(a_norefit),   # anova(fm, fm2, refit = FALSE)
  anova_refit = an_tab(a_refit)        # anova(fm, fm2)
)

## --------------------------------------------------------------- offset as an expression
write.csv(as.data.frame(nlme::BodyWeight), file.path(FIX, "bodyweight.csv"), row.names = FALSE)
bw <- read.csv(file.path(FIX, "bodyweight.csv"))
m_off <- lmer(log(weight) ~ factor(Diet) * Time + (1 | Rat), data = bw, offset = log(Time + 1)/10,
              control = TIGHT)
offset_case <- list(
  call = "lmer(log(weight) ~ factor(Diet) * Time + (1 | Rat), data = bw, offset = log(Time + 1)/10)",
  objective = REMLcrit(m_off), fixef = I(as.double(fixef(m_off))), theta = I(as.double(getME(m_off, "theta"))),
  summary_text = printed(summary(m_off)), print_text = printed(m_off),
  fitted_head = I(as.double(head(fitted(m_off), 10)))
)

## weights as an expression: lmer(Reaction ~ Days + (1 | Subject), data = sleepstudy, weights = 1 / w)
sleepstudy_w <- sleepstudy
sleepstudy_w$w <- sleepstudy_w$Days %% 3 + 1
m_w <- lmer(Reaction ~ Days + (1 | Subject), data = sleepstudy_w, weights = 1 / w, control = TIGHT)
weights_case <- list(call = "lmer(Reaction ~ Days + (1 | Subject), data = sleepstudy_w, weights = 1 / w)",
                     objective = REMLcrit(m_w), summary_text = printed(summary(m_w)))

res <- list(generated_by = "tests/r/make_porting_fixtures.R",
            versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                            lmerTest = as.character(packageVersion("lmerTest")),
                            nlme = as.character(packageVersion("nlme"))),
            read_cases = read_cases, rownames_case = rownames_case, factor_cases = factor_cases, make_names = make_names_case,
            alfalfa = alfalfa_case, sleepstudy = sleep_case, tvbo = tvbo_case, offset = offset_case,
            weights = weights_case)
writeLines(jsonlite::toJSON(encode_doubles(res), auto_unbox = TRUE, pretty = TRUE, null = "null",
                            na = "null", json_verbatim = TRUE, digits = NA),
           file.path(FIX, "porting.json"))
cat("wrote", file.path(FIX, "porting.json"), "\n")
