#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## make_varcorr_names_fixtures.R -- what the linear and generalized fits share
##
## Run from the repository root:   Rscript tests/r/make_varcorr_names_fixtures.R
##
## Writes tests/fixtures/varcorr_names.json:
## * the group labels of the variance components when a grouping factor has more
##   than one term (lme4's VarCorr names them with make.names(unique = TRUE), so
##   an interaction factor "Block:Variety" becomes "Block.Variety",
##   "Block.Variety.1"): as.data.frame(VarCorr(m))$grp and print(VarCorr(m))
##   for an lmer and a glmer fit;
## * coef(m) of a glmer fit with a random slope that has no fixed effect (its
##   column comes first, as coef.merMod puts it).
## R 4.2.2, lme4 1.1.31.
## ---------------------------------------------------------------------------
suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})
if (!file.exists(file.path("tests", "r", "make_varcorr_names_fixtures.R")))
  stop("run this script from the repository root")
options(width = 80, digits = 7)
source(file.path("tests", "r", "json_helpers.R"))
Oats <- read_dataset("Oats")
glmmsim <- utils::read.csv(file.path("tests", "fixtures", "glmm_sim.csv"), stringsAsFactors = FALSE)
glmmsim$g <- factor(glmmsim$g); glmmsim$h <- factor(glmmsim$h)
printed <- function(expr) paste(capture.output(expr), collapse = "\n")
TIGHT <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5))

names_case <- function(call, m) {
  vc <- as.data.frame(VarCorr(m))
  list(call = call, grp = arr(vc$grp), var1 = arr(ifelse(is.na(vc$var1), "", vc$var1)),
       vcov = I(vc$vcov), theta = I(getME(m, "theta")), varcorr_text = printed(print(VarCorr(m))))
}
lmm_call <- 'lmer(yield ~ nitro + (nitro || Block:Variety) + (1 | Block), data = Oats, control = TIGHT)'
glmm_call <- 'glmer(ypois ~ x + (x || h:g), data = glmmsim, family = poisson)'
lmm <- eval(parse(text = lmm_call)[[1L]])
glmm <- eval(parse(text = glmm_call)[[1L]])

coef_call <- 'glmer(ypois ~ 1 + (x | g), data = glmmsim, family = poisson)'
cm <- eval(parse(text = coef_call)[[1L]])
cf <- coef(cm)$g
coef_case <- list(call = coef_call, columns = arr(colnames(cf)), rows = arr(rownames(cf)),
                  values = lapply(colnames(cf), function(cn) I(cf[[cn]])),
                  theta = I(getME(cm, "theta")), beta = I(unname(fixef(cm))))

out <- list(generated_by = "tests/r/make_varcorr_names_fixtures.R",
            versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4"))),
            lmer = names_case(lmm_call, lmm), glmer = names_case(glmm_call, glmm), glmer_coef = coef_case)
writeLines(jsonlite::toJSON(encode_doubles(out), auto_unbox = TRUE, pretty = TRUE, digits = NA,
                            json_verbatim = TRUE),
           file.path("tests", "fixtures", "varcorr_names.json"))
cat("wrote tests/fixtures/varcorr_names.json\n")
