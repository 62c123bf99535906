## Many samples on a cluster scheduler: BiocParallel's BatchtoolsParam submits each sample as a
## batchtools job. batchtools' "socket" cluster functions run the jobs in new R processes on this
## machine, the path that "slurm" or "sge" takes through a scheduler.

test_that("samples run as batchtools jobs give the serial results", {
    skipIfNoPython()
    sce <- smallDLPFC()
    sce$sample_id <- ifelse(sce$array_col < 45, "left", "right")
    serial <- runTinyDST(sce, nClusters = 3)

    ## A scheduler may start jobs without this session's environment; workers whose own settings
    ## name no Python use the interpreter of this session.
    nothing <- withr::local_tempdir()
    withr::local_envvar(SPATIALDIFFUSION_PYTHON = NA, RETICULATE_PYTHON = NA,
        R_USER_CONFIG_DIR = nothing, WORKON_HOME = nothing)
    withr::local_options(BIOCPARALLEL_BATCHTOOLS_REMOVE_REGISTRY_WAIT = 0)
    registry <- file.path(withr::local_tempdir(), "registry")
    logs <- withr::local_tempdir()
    param <- BiocParallel::BatchtoolsParam(2, cluster = "socket", log = TRUE, logdir = logs,
        registryargs = BiocParallel::batchtoolsRegistryargs(file.dir = registry))
    jobs <- runTinyDST(sce, nClusters = 3, BPPARAM = param)

    expect_identical(jobs$DiffusionST_domain, serial$DiffusionST_domain)
    expect_equal(SingleCellExperiment::reducedDim(jobs, "DiffusionST"),
        SingleCellExperiment::reducedDim(serial, "DiffusionST"), tolerance = sameSeedTolerance)
    expect_named(S4Vectors::metadata(jobs)$DiffusionST$samples, c("left", "right"))
    ## one log per job, each from a batchtools worker that ran the engine; the registry is removed
    jobLogs <- list.files(logs, recursive = TRUE, full.names = TRUE)
    expect_length(jobLogs, 2L)
    for (log in jobLogs) expect_match(paste(readLines(log), collapse = "\n"), "batchtools")
    expect_false(dir.exists(registry))
})

test_that("the SLURM template shipped for BatchtoolsParam renders with brew", {
    template <- system.file("batchtools", "slurm-spatialdiffusion.tmpl",
        package = "SpatialDiffusion", mustWork = TRUE)
    ## what batchtools hands a template: the job's name, its log file, the resources and the
    ## Rscript call that runs the job collection
    job.name <- "BPJOB-1"
    log.file <- "/scratch/registry/logs/job1.log"
    uri <- "/scratch/registry/jobs/job1.rds"
    resources <- list(walltime = 7200, memory = 16000, ncpus = 4, gpus = 1,
        partition = "gpu")
    rendered <- utils::capture.output(brew::brew(template, envir = environment()))
    expect_true(any(rendered == "#SBATCH --time=120"))
    expect_true(any(rendered == "#SBATCH --mem=16000M"))
    expect_true(any(rendered == "#SBATCH --cpus-per-task=4"))
    expect_true(any(rendered == "#SBATCH --gres=gpu:1"))
    expect_true(any(rendered == "#SBATCH --partition=gpu"))
    expect_true(any(grepl("batchtools::doJobCollection('/scratch/registry/jobs/job1.rds')",
        rendered, fixed = TRUE)))
    ## without GPUs or a partition those lines are left out; the engine uses the job's CPUs
    resources <- list(walltime = 600, memory = 4000, ncpus = 2)
    rendered <- utils::capture.output(brew::brew(template, envir = environment()))
    expect_false(any(grepl("--gres|--partition", rendered)))
    expect_true(any(rendered == "export OMP_NUM_THREADS=2"))
    ## brew returns its error, which batchtools reports when it submits
    resources <- list(memory = 4000, ncpus = 2)
    utils::capture.output(failed <- brew::brew(template, output = withr::local_tempfile(),
        envir = environment()), type = "message")
    expect_s3_class(failed, "try-error")
    expect_match(conditionMessage(attr(failed, "condition")),
        "the SLURM template needs resources\\$walltime")
})
